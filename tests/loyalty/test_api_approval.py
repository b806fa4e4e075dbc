"""A manager's approval above the program's threshold: redemptions and voids by a cashier."""

from decimal import Decimal

import pytest
from django.conf import settings

from loyalty import services
from loyalty.models import LoyaltyTransaction
from merchants.models import StaffMember
from tests.factories import StaffMemberFactory, StoreFactory
from tests.loyalty.test_api_cards import client_for, error_of
from tests.loyalty.test_api_mutations import ok, post

Type = LoyaltyTransaction.Type


@pytest.fixture
def card(card):
    card.program.approval_threshold_points = 100
    card.program.save(update_fields=["approval_threshold_points"])
    services.earn_points(card=card, purchase_amount=Decimal("500"), store=None, staff_user=None)
    return card


@pytest.fixture
def api(cashier):
    return client_for(cashier)


def approval_of(response) -> dict:
    return error_of(response, 403, "approval_required")


def test_a_redemption_at_the_threshold_needs_no_approval(api, card):
    data = ok(post(api, card, "redeem-points", {"points": 100}))
    assert data["transaction"]["approved_by"] is None
    assert card.transactions.get(type=Type.POINTS_REDEEM).approved_by is None


def test_a_redemption_above_the_threshold_needs_a_manager(api, card, manager, cashier):
    error = approval_of(post(api, card, "redeem-points", {"points": 101}))
    assert "manager" in error["message"]
    assert error["details"] == {"threshold": 100, "points": 101}
    assert not card.transactions.filter(type=Type.POINTS_REDEEM).exists()

    body = {"points": 101, "approver": manager.user.username, "approver_pin": "1234"}
    data = ok(post(api, card, "redeem-points", body))
    assert data["transaction"]["approved_by"] == manager.user.username
    row = card.transactions.get(type=Type.POINTS_REDEEM)
    assert (row.points_delta, row.approved_by, row.staff_user) == (-101, manager.user, cashier.user)


def test_a_void_above_the_threshold_needs_a_manager(api, card, manager):
    earn = card.transactions.get(type=Type.POINTS_EARN)
    approval_of(post(api, card, "void-points", {"transaction_id": earn.pk}))
    approval_of(post(api, card, "void-points", {"points": 101, "reason": "Return"}))
    ok(post(api, card, "void-points", {"points": 100, "reason": "Return"}))  # at the threshold
    body = {"transaction_id": earn.pk, "approver": manager.user.username, "approver_pin": "1234"}
    data = ok(post(api, card, "void-points", body))
    assert data["transaction"]["points_delta"] == -400  # capped at the balance left
    assert card.transactions.filter(type=Type.POINTS_VOID, approved_by=manager.user).count() == 1


def test_without_a_threshold_nothing_needs_approval(api, card):
    card.program.approval_threshold_points = None
    card.program.save(update_fields=["approval_threshold_points"])
    ok(post(api, card, "redeem-points", {"points": 500}))


def test_managers_and_owners_need_no_approval(card, manager, store):
    owner = StaffMemberFactory(merchant=store.merchant, role="owner", stores=[store])
    ok(post(client_for(manager), card, "redeem-points", {"points": 200}))
    ok(post(client_for(owner), card, "redeem-points", {"points": 200, "store": store.code}))
    assert not card.transactions.filter(approved_by__isnull=False).exists()


def test_the_owner_approves_without_working_at_the_store(api, card, store):
    owner = StaffMemberFactory(merchant=store.merchant, role="owner")
    body = {"points": 300, "approver": owner.user.username, "approver_pin": "1234"}
    assert ok(post(api, card, "redeem-points", body))["transaction"]["approved_by"] == owner.user.username


@pytest.mark.parametrize("who", ["cashier", "manager_elsewhere", "other_merchant", "unknown"])
def test_only_a_manager_of_this_store_or_the_owner_approves(api, card, store, who):
    if who == "cashier":
        username = StaffMemberFactory(merchant=store.merchant, stores=[store]).user.username
    elif who == "manager_elsewhere":
        other_store = StoreFactory(merchant=store.merchant, code="other")
        username = StaffMemberFactory(merchant=store.merchant, stores=[other_store], role="manager").user.username
    elif who == "other_merchant":
        username = StaffMemberFactory(role="owner").user.username
    else:
        username = "nobody"
    body = {"points": 300, "approver": username, "approver_pin": "1234"}
    error = approval_of(post(api, card, "redeem-points", body))
    assert username in error["message"]
    assert not card.transactions.filter(type=Type.POINTS_REDEEM).exists()


def test_a_wrong_approver_pin_counts_toward_the_approvers_lockout(api, card, manager, cashier):
    body = {"points": 300, "approver": manager.user.username, "approver_pin": "9999"}
    for attempt in range(1, settings.LOYALTY_PIN_MAX_ATTEMPTS):
        error = error_of(post(api, card, "redeem-points", body), 403, "invalid_pin")
        assert StaffMember.objects.get(pk=manager.pk).pin_failed_attempts == attempt
        assert error["details"]["attempts_left"] == settings.LOYALTY_PIN_MAX_ATTEMPTS - attempt
    error_of(post(api, card, "redeem-points", body), 423, "pin_locked")
    # The right PIN does not help now: the approver is locked; the cashier's own PIN is untouched.
    error_of(post(api, card, "redeem-points", {**body, "approver_pin": "1234"}), 423, "pin_locked")
    assert StaffMember.objects.get(pk=cashier.pk).pin_failed_attempts == 0
    assert not card.transactions.filter(type=Type.POINTS_REDEEM).exists()


def test_the_retry_with_approval_reuses_the_idempotency_key(api, card, manager):
    key = "0b7f2a4e-1c3d-4e5f-8a9b-0c1d2e3f4a5b"
    approval_of(post(api, card, "redeem-points", {"points": 300}, HTTP_IDEMPOTENCY_KEY=key))
    body = {"points": 300, "approver": manager.user.username, "approver_pin": "1234"}
    ok(post(api, card, "redeem-points", body, HTTP_IDEMPOTENCY_KEY=key))
    replay = post(api, card, "redeem-points", body, HTTP_IDEMPOTENCY_KEY=key)
    assert replay["Idempotent-Replayed"] == "true"
    assert card.transactions.filter(type=Type.POINTS_REDEEM).count() == 1


def test_the_program_shows_its_threshold(api, card):
    response = api.get(f"/api/v1/cards/{card.card_number}/")
    assert response.json()["program"]["approval_threshold_points"] == 100
