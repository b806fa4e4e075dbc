"""How PostgreSQL reads a merchant's period of LedgerDay (insights/migrations/0003, issue 18)."""

import pytest
from django.db import connection

from insights.models import LedgerDay
from tests.support import postgres_only

pytestmark = [postgres_only, pytest.mark.django_db]


def test_a_period_is_read_through_merchant_and_day_not_a_bare_merchant_index():
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, LedgerDay._meta.db_table)
    by_columns = {tuple(info["columns"]) for info in constraints.values() if info["index"]}
    assert ("merchant_id", "day") in by_columns
    assert ("merchant_id",) not in by_columns  # PostgreSQL chose it and filtered a year out of every day


def test_postgresql_knows_how_few_cells_a_merchant_has():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT stxname, stxkind FROM pg_statistic_ext WHERE stxrelid = %s::regclass ORDER BY stxname",
            [LedgerDay._meta.db_table],
        )
        assert cursor.fetchall() == [("ledger_day_cells", ["d"]), ("ledger_day_days", ["d"])]
