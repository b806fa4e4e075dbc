"""PostgreSQL: the nightly expiry rewrites only the card rows it expires, in place (HOT updates).

The expiry changes a card's balance and updated_at. When no index of the card table reads either
column (as a key, an INCLUDE or in its condition) and the page has room, PostgreSQL writes the new
row version beside the old one and adds no index entry: the cost per card no longer grows with the
size of the card table's twenty indexes.
"""

import datetime

import pytest
from django.db import connection

from loyalty import services
from loyalty.models import LoyaltyCard
from tests.factories import ProgramFactory
from tests.loyalty.test_expiry import inactive_card
from tests.support import postgres_only

pytestmark = [postgres_only, pytest.mark.django_db(transaction=True)]

CARD_TABLE = LoyaltyCard._meta.db_table


def indexes_reading(*columns: str) -> list[str]:
    """Names of the card table's indexes whose key, INCLUDE columns, expressions or condition read a column."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT i.indexrelid::regclass::text
            FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid
            WHERE i.indrelid = %s::regclass AND a.attname = ANY(%s)
              AND (a.attnum = ANY(i.indkey)
                   OR pg_get_expr(i.indpred, i.indrelid) ~ ('\\m' || a.attname || '\\M')
                   OR pg_get_expr(i.indexprs, i.indrelid) ~ ('\\m' || a.attname || '\\M'))
            """,
            [CARD_TABLE, list(columns)],
        )
        return sorted(name for (name,) in cursor.fetchall())


def card_updates() -> tuple[int, int]:
    """(updates, HOT updates) of the card table so far, this connection's pending counts flushed first."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")
        cursor.execute("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = %s", [CARD_TABLE])
        return cursor.fetchone()


def test_the_reader_of_indexes_sees_the_columns_it_is_asked_about():
    assert "card_expiry_candidates_idx" in indexes_reading("last_activity_at")  # key
    assert "card_expiry_candidates_idx" in indexes_reading("deleted_at")  # condition
    assert "card_created_customer_idx" in indexes_reading("enrolled_at_store_id")  # INCLUDE


def test_no_card_index_reads_what_the_expiry_changes():
    assert indexes_reading("points_balance", "updated_at") == []


def test_card_pages_keep_room_for_a_new_row_version():
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE oid = %s::regclass", [CARD_TABLE])
        assert "fillfactor=90" in cursor.fetchone()[0]


def test_expiry_updates_each_card_in_place():
    program = ProgramFactory(points_expiry_days=30)
    now = datetime.datetime.now(datetime.UTC)
    cards = [inactive_card(program, points=10, since=datetime.timedelta(days=60), now=now) for _ in range(6)]
    updates, hot = card_updates()

    report = services.expire_points(now=now, batch_size=4)

    assert report.cards == len(cards)
    after_updates, after_hot = card_updates()
    assert after_updates - updates == len(cards)
    assert after_hot - hot == len(cards)
