"""The database itself refuses impossible balances and rules, whatever the code does.

CHECK constraints exist in PostgreSQL and SQLite alike, so these run on both.
"""

import pytest
from django.db import IntegrityError, connection, transaction

from loyalty.models import LoyaltyCard, LoyaltyProgram, Reward
from tests.factories import ProgramFactory, RewardFactory, make_card


def raw_update(model, column: str, value, pk: int) -> None:
    table = connection.ops.quote_name(model._meta.db_table)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET {connection.ops.quote_name(column)} = %s WHERE id = %s", [value, pk])


@pytest.mark.parametrize("column", ["points_balance", "stamp_count"])
def test_card_balances_never_negative(db, column):
    card = make_card()
    with pytest.raises(IntegrityError, match=f"card_{column}_gte_0"):
        raw_update(LoyaltyCard, column, -1, card.pk)


@pytest.mark.parametrize(
    ("column", "value", "constraint"),
    [
        ("min_purchase", "-0.01", "program_min_purchase_gte_0"),
        ("points_per_euro", "-1", "program_points_per_euro_gte_0"),
        ("welcome_bonus", -5, "program_welcome_bonus_gte_0"),
        ("stamps_target", 0, "program_stamps_target_gte_1"),
        ("stamps_target", -3, "program_stamps_target_gte_1"),
        ("stamp_cooldown_minutes", -1, "program_stamp_cooldown_gte_0"),
        ("max_stamps_per_day", 0, "program_max_stamps_per_day_gte_1"),
        ("points_expiry_days", 0, "program_points_expiry_days_gte_1"),
    ],
)
def test_program_rules_checked_by_database(db, column, value, constraint):
    program = ProgramFactory()
    with pytest.raises(IntegrityError, match=constraint):
        raw_update(LoyaltyProgram, column, value, program.pk)


def test_reward_cost_at_least_one(db):
    reward = RewardFactory()
    with pytest.raises(IntegrityError, match="reward_points_cost_gte_1"):
        raw_update(Reward, "points_cost", 0, reward.pk)


def test_duplicate_card_number_refused(db):
    first, second = make_card(), make_card()
    with pytest.raises(IntegrityError):
        raw_update(LoyaltyCard, "card_number", first.card_number, second.pk)
