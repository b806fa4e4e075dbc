"""The till keeps each program's promotions, tiers and rewards in memory under the program's
``updated_at`` (issue 18): every way an owner changes one must reach the very next operation."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from loyalty import services
from loyalty.models import LoyaltyProgram, Promotion, Tier
from tests.factories import ProgramFactory, StoreFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def earn(card, store, amount="10.00"):
    return services.earn_points(card=card, purchase_amount=Decimal(amount), store=store, staff_user=None)


def double_points(program, **fields) -> Promotion:
    fields = {"points_multiplier": Decimal("2"), **fields}
    promotion = Promotion(
        program=program,
        name="Double points",
        starts_at=NOW - datetime.timedelta(days=1),
        ends_at=NOW + datetime.timedelta(days=1),
        **fields,
    )
    return services.save_promotion(promotion=promotion, stores=None)


def updated_at(program) -> datetime.datetime:
    return LoyaltyProgram.objects.values_list("updated_at", flat=True).get(pk=program.pk)


def test_a_promotion_saved_after_an_earn_applies_to_the_next_one(card, store, program):
    assert earn(card, store).transaction.points_delta == 10  # the program's promotions are now in memory
    promotion = double_points(program)
    second = earn(card, store).transaction
    assert (second.points_delta, second.promotion_id) == (20, promotion.pk)
    promotion.points_multiplier = Decimal("3")
    promotion.save()
    assert earn(card, store).transaction.points_delta == 30


@pytest.mark.parametrize("change", ["bulk switch off", "bulk delete", "delete", "another store"])
def test_every_way_of_ending_a_promotion_reaches_the_next_earn(card, store, program, change):
    promotion = double_points(program)
    # In memory now; not applied yet, so it can still be deleted (the ledger protects what it used).
    as_the_till_reads_it = LoyaltyProgram.objects.get(pk=program.pk)
    assert services.best_promotion(program=as_the_till_reads_it, store=store, operation="earn") == promotion
    if change == "bulk switch off":  # the admin's list actions
        assert Promotion.objects.filter(pk=promotion.pk).update(is_active=False) == 1
    elif change == "bulk delete":
        Promotion.objects.filter(pk=promotion.pk).delete()
    elif change == "delete":
        promotion.delete()
    else:
        services.save_promotion(promotion=promotion, stores=[StoreFactory(merchant=program.merchant, code="other")])
    assert earn(card, store).transaction.points_delta == 10


def test_a_bonus_stamp_promotion_reaches_the_next_stamp(card, store, program):
    assert services.add_stamp(card=card, store=store, staff_user=None).transaction.stamps_delta == 1
    double_points(program, bonus_stamps=2, points_multiplier=Decimal("1"))
    assert services.add_stamp(card=card, store=store, staff_user=None).transaction.stamps_delta == 3


def test_a_tier_created_after_an_earn_lifts_the_card_at_the_next(card, store, program):
    earn(card, store, "100.00")  # no tiers: nothing to check, and that is now in memory
    before = updated_at(program)
    gold = Tier.objects.create(program=program, name="Gold", min_points_12m=150)
    assert updated_at(program) > before
    earn(card, store, "60.00")
    card.refresh_from_db()
    assert card.tier_id == gold.pk


def test_bulk_changes_move_only_their_programs(program, card, store):
    other = ProgramFactory()
    Tier.objects.create(program=program, name="Gold", min_points_12m=150)
    untouched = updated_at(other)
    Tier.objects.filter(program=program).update(points_multiplier=Decimal("1.5"))
    assert updated_at(other) == untouched
