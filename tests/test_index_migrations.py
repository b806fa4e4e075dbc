"""Index migrations must not lock a big table's writes: CONCURRENTLY on PostgreSQL, plain elsewhere."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations import AddIndex, CreateModel, RemoveIndex
from django.db.migrations.loader import MigrationLoader

from core.indexes import AddIndexConcurrently, RemoveIndexConcurrently

# The tables that grow with the merchants' customers and activity (millions of rows).
BIG_MODELS = {("loyalty", "loyaltycard"), ("loyalty", "loyaltytransaction"), ("customers", "customer")}
CARD_INDEXES = "loyalty", "0012_card_indexes_without_balance"


def migration_sql(app: str, name: str) -> str:
    out = StringIO()
    call_command("sqlmigrate", app, name, stdout=out)
    return out.getvalue()


def test_every_index_change_on_a_big_table_after_its_creation_is_concurrent():
    loader = MigrationLoader(None, ignore_no_migrations=True)
    locking = []
    for (app, name), migration in sorted(loader.disk_migrations.items()):
        created = {(app, op.name_lower) for op in migration.operations if isinstance(op, CreateModel)}
        for op in migration.operations:
            if not isinstance(op, AddIndex | RemoveIndex) or (app, op.model_name_lower) not in BIG_MODELS:
                continue
            if (app, op.model_name_lower) in created:
                continue  # a new, empty table
            if not isinstance(op, AddIndexConcurrently | RemoveIndexConcurrently) or migration.atomic:
                locking.append(f"{app}.{name}: {op.describe()}")
    assert locking == []


@pytest.mark.django_db(transaction=True)  # sqlmigrate opens a schema editor: no test transaction around it
def test_card_indexes_are_built_and_dropped_without_locking_writes():
    sql = migration_sql(*CARD_INDEXES)

    if connection.vendor == "postgresql":
        assert sql.count("CREATE INDEX CONCURRENTLY") == 2
        assert sql.count("DROP INDEX CONCURRENTLY") == 3
        assert "BEGIN" not in sql  # CONCURRENTLY cannot run inside a transaction
    else:
        assert "CONCURRENTLY" not in sql
        assert sql.count('CREATE INDEX "card_') == 2
        assert sql.count('DROP INDEX "card_') == 3
