"""Index migrations that must not lock a big table's writes: CONCURRENTLY on PostgreSQL, plain elsewhere."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

CARD_INDEXES = "loyalty", "0012_card_indexes_without_balance"


def migration_sql(app: str, name: str) -> str:
    out = StringIO()
    call_command("sqlmigrate", app, name, stdout=out)
    return out.getvalue()


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
