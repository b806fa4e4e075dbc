"""Undo a mistake: a stamp or a stamp-reward redemption voided on its day, once, never below zero."""

import datetime

import pytest
from django.utils import timezone

from loyalty import services
from loyalty.models import LoyaltyTransaction
from tests.loyalty.test_api_cards import client_for, error_of
from tests.loyalty.test_api_mutations import ok, post

Type = LoyaltyTransaction.Type


@pytest.fixture
def api(cashier):
    return client_for(cashier)


def stamp(card, cashier, now=None):
    return services.add_stamp(card=card, store=None, staff_user=cashier.user, now=now).transaction


def test_a_stamp_is_voided_once(api, card, cashier):
    row = stamp(card, cashier)
    data = ok(post(api, card, "void-stamp", {"transaction_id": row.pk}))
    assert data["transaction"]["type"] == "stamp_void"
    assert data["transaction"]["stamps_delta"] == -1
    assert data["transaction"]["related_transaction_id"] == row.pk
    assert data["card"]["stamp_count"] == 0
    card.refresh_from_db()
    assert (card.stamp_count, card.lifetime_stamps) == (0, 0)
    void = card.transactions.get(type=Type.STAMP_VOID)
    assert (void.staff_user, void.reason, void.stamps_after) == (cashier.user, "Stamp given by mistake", 0)
    error_of(post(api, card, "void-stamp", {"transaction_id": row.pk}), 409, "already_voided")
    assert card.transactions.filter(type=Type.STAMP_VOID).count() == 1


def test_only_todays_stamps(api, card, cashier):
    yesterday = timezone.localtime().replace(hour=12) - datetime.timedelta(days=1)
    row = stamp(card, cashier, now=yesterday)
    error = error_of(post(api, card, "void-stamp", {"transaction_id": row.pk}), 409, "void_window_closed")
    assert error["details"]["day"] == str(yesterday.date())


def test_a_stamp_already_spent_cannot_be_voided(api, card, cashier):
    card.program.stamps_target = 1
    card.program.save(update_fields=["stamps_target"])
    row = stamp(card, cashier)
    services.redeem_stamps(card=card, store=None, staff_user=cashier.user)
    error_of(post(api, card, "void-stamp", {"transaction_id": row.pk}), 409, "insufficient_stamps")
    card.refresh_from_db()
    assert card.stamp_count == 0


def test_a_stamp_redemption_is_voided_and_the_stamps_come_back(api, card, cashier):
    card.program.stamps_target = 2
    card.program.save(update_fields=["stamps_target"])
    stamp(card, cashier)
    stamp(card, cashier)
    redemption = services.redeem_stamps(card=card, store=None, staff_user=cashier.user).transaction
    data = ok(post(api, card, "void-stamp", {"transaction_id": redemption.pk, "reason": "Wrong customer"}))
    assert data["card"]["stamp_count"] == 2
    card.refresh_from_db()
    assert (card.stamp_count, card.rewards_redeemed) == (2, 0)
    void = card.transactions.get(type=Type.STAMP_VOID)
    assert (void.stamps_delta, void.reason, void.approved_by) == (2, "Wrong customer", None)


def test_voiding_a_redemption_needs_approval_when_the_program_has_a_threshold(api, card, cashier, manager):
    card.program.stamps_target = 1
    card.program.approval_threshold_points = 100
    card.program.save(update_fields=["stamps_target", "approval_threshold_points"])
    stamped = stamp(card, cashier)
    redemption = services.redeem_stamps(card=card, store=None, staff_user=cashier.user).transaction
    error_of(post(api, card, "void-stamp", {"transaction_id": redemption.pk}), 403, "approval_required")
    body = {"transaction_id": redemption.pk, "approver": manager.user.username, "approver_pin": "1234"}
    assert ok(post(api, card, "void-stamp", body))["transaction"]["approved_by"] == manager.user.username
    # A stamp is never worth an approval; a manager voids a redemption without one.
    assert ok(post(api, card, "void-stamp", {"transaction_id": stamped.pk}))["card"]["stamp_count"] == 0


@pytest.mark.parametrize("kind", ["earn", "other_card", "void"])
def test_only_a_stamp_or_stamp_redemption_of_this_card(api, card, cashier, program, kind):
    from decimal import Decimal

    from tests.factories import make_card

    if kind == "earn":
        row = services.earn_points(card=card, purchase_amount=Decimal("5"), store=None, staff_user=None).transaction
    elif kind == "other_card":
        row = stamp(make_card(program=program), cashier)
    else:
        row = services.void_stamp(
            card=card, store=None, staff_user=cashier.user, transaction_id=stamp(card, cashier).pk
        )
        row = row.transaction
    error_of(post(api, card, "void-stamp", {"transaction_id": row.pk}), 400, "unknown_transaction")


def test_the_void_replays_with_its_key(api, card, cashier):
    row = stamp(card, cashier)
    key = "7d1c9a8e-2b3f-4c5d-9e6f-708192a3b4c5"
    ok(post(api, card, "void-stamp", {"transaction_id": row.pk}, HTTP_IDEMPOTENCY_KEY=key))
    again = post(api, card, "void-stamp", {"transaction_id": row.pk}, HTTP_IDEMPOTENCY_KEY=key)
    assert again.status_code == 200 and again["Idempotent-Replayed"] == "true"
    assert card.transactions.filter(type=Type.STAMP_VOID).count() == 1
