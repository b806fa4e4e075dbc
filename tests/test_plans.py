"""core.plans.planned_for_values: statements whose best plan depends on their values are planned for them."""

import datetime

import pytest
from django.db import connection

from core.plans import planned_for_values
from insights import figures
from insights.periods import parse_period
from tests.factories import MerchantFactory
from tests.support import plan_cache_modes, postgres_only


def plan_cache_mode() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW plan_cache_mode")
        return cursor.fetchone()[0]


def set_generic_plans() -> None:
    """What a busy connection may have reached: each prepared statement on its generic plan."""
    with connection.cursor() as cursor:
        cursor.execute("SET plan_cache_mode = force_generic_plan")


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_inside_it_statements_are_planned_for_their_values_and_after_it_as_before():
    set_generic_plans()
    try:
        with planned_for_values():
            assert plan_cache_mode() == "force_custom_plan"
        assert plan_cache_mode() == "force_generic_plan"
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET plan_cache_mode")


@pytest.mark.django_db(transaction=True)
def test_it_opens_a_transaction_on_postgresql_only():
    with planned_for_values():
        assert connection.in_atomic_block == (connection.vendor == "postgresql")
    assert not connection.in_atomic_block


@postgres_only
@pytest.mark.django_db
@pytest.mark.parametrize("read", ["summary", "liability"])
def test_the_insights_figures_are_planned_for_their_period(read):
    """A year's summary took 162 ms on generic plans at 500,000 cards, 104 planned for it."""
    merchant = MerchantFactory()
    tables = ["insights_ledgerday", "insights_ledgerstoreday", "loyalty_loyaltycard", "loyalty_loyaltytransaction"]

    with plan_cache_modes(*tables) as modes:
        if read == "summary":
            figures.summary(merchant=merchant, period=parse_period(None, None))
        else:
            figures.liability(merchant=merchant, month=datetime.date(2026, 11, 1))

    assert modes and set(modes) == {"force_custom_plan"}
