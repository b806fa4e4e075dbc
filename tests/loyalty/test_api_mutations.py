"""Staff API balance changes: each action's success, refusals, roles, stores and scoping."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from loyalty import services
from loyalty.models import LoyaltyTransaction
from tests.factories import RewardFactory, StaffMemberFactory, StoreFactory, make_card
from tests.loyalty.test_api_cards import client_for, error_of

Type = LoyaltyTransaction.Type

ACTIONS = {
    "stamp": {},
    "redeem-stamps": {},
    "earn-points": {"purchase_amount": "10.00"},
    "redeem-points": {"points": 1},
    "void-points": {"points": 1, "reason": "Return"},
    "adjust": {"points_delta": 5, "reason": "Goodwill"},
}


@pytest.fixture
def api(cashier):
    return client_for(cashier)


def post(client, card, action, body=None, **headers):
    number = card if isinstance(card, str) else card.card_number
    return client.post(f"/api/v1/cards/{number}/{action}/", body or {}, format="json", **headers)


def ok(response) -> dict:
    assert response.status_code == 200, response.content
    data = response.json()
    assert set(data) == {"transaction", "card"}
    return data


def ledger(card):
    return list(card.transactions.order_by("id"))


# --- shared rules of every mutation ----------------------------------------------------------


@pytest.mark.parametrize("action", ACTIONS)
def test_mutations_need_authentication(client, card, action):
    from rest_framework.test import APIClient

    error_of(post(APIClient(), card, action, ACTIONS[action]), 401, "not_authenticated")
    assert len(ledger(card)) == 1


@pytest.mark.parametrize("action", ACTIONS)
def test_mutations_on_another_merchants_card_are_404(manager, action):
    foreign = make_card()
    services.earn_points(card=foreign, purchase_amount=Decimal("50"), store=None, staff_user=None)
    error_of(post(client_for(manager), foreign, action, ACTIONS[action]), 404, "card_not_found")
    assert len(ledger(foreign)) == 2


@pytest.mark.parametrize("action", ACTIONS)
def test_mutations_at_a_store_of_another_merchant_are_400(manager, card, action):
    services.earn_points(card=card, purchase_amount=Decimal("50"), store=None, staff_user=None)
    foreign_store = StoreFactory(code="elsewhere")
    body = {**ACTIONS[action], "store": foreign_store.code}
    error = error_of(post(client_for(manager), card, action, body), 400, "unknown_store")
    assert "store" in error["details"]
    assert len(ledger(card)) == 2


def test_store_of_own_merchant_not_assigned_to_cashier_is_400(api, card):
    StoreFactory(merchant=card.merchant, code="station")
    error_of(post(api, card, "stamp", {"store": "station"}), 400, "unknown_store")


def test_inactive_store_is_400(api, card, store):
    store.is_active = False
    store.save()
    error_of(post(api, card, "stamp", {"store": "main"}), 400, "unknown_store")


def test_store_required_when_staff_has_several(card, store):
    station = StoreFactory(merchant=card.merchant, code="station")
    both = client_for(StaffMemberFactory(merchant=card.merchant, stores=[store, station]))
    error_of(post(both, card, "stamp"), 400, "store_required")
    data = ok(post(both, card, "stamp", {"store": "station"}))
    assert data["transaction"]["store"] == "station"
    nowhere = client_for(StaffMemberFactory(merchant=card.merchant, stores=[]))
    error_of(post(nowhere, card, "stamp"), 400, "store_required")


def test_inactive_card_is_409(api, card):
    services.set_cards_active(card_ids=[card.pk], active=False)
    error_of(post(api, card, "stamp"), 409, "card_inactive")


def test_card_number_without_dashes_in_url(api, card):
    ok(post(api, card.card_number.replace("-", ""), "stamp"))
    card.refresh_from_db()
    assert card.stamp_count == 1


def test_non_json_body_is_415(api, card):
    response = api.post(f"/api/v1/cards/{card.card_number}/stamp/", {"store": "main"}, format="multipart")
    error_of(response, 415, "unsupported_media_type")


# --- stamp -------------------------------------------------------------------------------------------


def test_stamp(api, card, store, cashier):
    data = ok(post(api, card, "stamp"))
    assert data["transaction"]["type"] == "stamp" and data["transaction"]["stamps_delta"] == 1
    assert data["card"]["stamp_count"] == 1 and data["card"]["stamps_until_reward"] == 4
    assert [row["type"] for row in data["card"]["recent_transactions"]] == ["stamp", "welcome_bonus"]
    row = ledger(card)[-1]
    assert (row.type, row.store, row.staff_user, row.stamps_after) == (Type.STAMP, store, cashier.user, 1)


def test_stamp_cooldown_is_409_with_wait(api, program, store):
    program.stamp_cooldown_minutes = 10
    program.save()
    card = make_card(program=program, store=store)
    ok(post(api, card, "stamp"))
    error = error_of(post(api, card, "stamp"), 409, "cooldown_active")
    assert 590 <= error["details"]["retry_after_seconds"] <= 600
    assert "minute" in error["message"]


def test_stamp_daily_limit_is_409(api, program, store):
    program.max_stamps_per_day = 1
    program.save()
    card = make_card(program=program, store=store)
    ok(post(api, card, "stamp"))
    error_of(post(api, card, "stamp"), 409, "daily_limit_reached")


def test_stamp_on_points_program_is_409(api, program, store):
    program.kind = "points"
    program.save()
    card = make_card(program=program, store=store)
    error_of(post(api, card, "stamp"), 409, "stamps_not_enabled")


# --- redeem stamps --------------------------------------------------------------------------------------


def test_redeem_stamps(api, card):
    error = error_of(post(api, card, "redeem-stamps"), 409, "insufficient_stamps")
    assert error["details"] == {"stamp_count": 0, "stamps_target": 5}
    for _ in range(6):
        ok(post(api, card, "stamp"))
    data = ok(post(api, card, "redeem-stamps"))
    assert data["transaction"]["stamps_delta"] == -5 and data["card"]["stamp_count"] == 1
    assert data["card"]["rewards_redeemed"] == 1


# --- earn points -----------------------------------------------------------------------------------------


def test_earn_points(api, program, store):
    program.points_per_euro = Decimal("1.50")
    program.save()
    card = make_card(program=program, store=store)
    data = ok(post(api, card, "earn-points", {"purchase_amount": "12.99", "order_reference": "T-1"}))
    assert data["transaction"]["points_delta"] == 19
    assert data["transaction"]["purchase_amount"] == "12.99"
    assert data["transaction"]["order_reference"] == "T-1"
    assert data["card"]["points_balance"] == 19
    assert ledger(card)[-1].purchase_amount == Decimal("12.99")


def test_earn_accepts_a_json_number(api, card):
    assert ok(post(api, card, "earn-points", {"purchase_amount": 7.5}))["transaction"]["points_delta"] == 7


@pytest.mark.parametrize(
    "amount", ["12.505", "0", "0.00", "-1", "100000.01", "1e9", "abc", "NaN", "Infinity", True, None, ""]
)
def test_earn_rejects_bad_amounts(api, card, amount):
    error = error_of(post(api, card, "earn-points", {"purchase_amount": amount}), 400, error_code_for(amount))
    assert "purchase_amount" in error["details"]
    assert len(ledger(card)) == 1


def error_code_for(amount):
    return "invalid_input" if amount is None else "invalid_amount"


def test_earn_highest_amount_allowed(api, card):
    assert ok(post(api, card, "earn-points", {"purchase_amount": "100000.00"}))["card"]["points_balance"] == 100000


def test_earn_missing_amount_is_400(api, card):
    error = error_of(post(api, card, "earn-points", {}), 400, "invalid_input")
    assert error["details"] == {"purchase_amount": ["This field is required."]}


def test_earn_below_min_purchase_is_409(api, program, store):
    program.min_purchase = Decimal("5.00")
    program.save()
    card = make_card(program=program, store=store)
    error = error_of(post(api, card, "earn-points", {"purchase_amount": "4.99"}), 409, "below_min_purchase")
    assert error["details"] == {"min_purchase": "5.00"}


def test_earn_same_order_twice_is_409(api, program, store):
    first, second = make_card(program=program, store=store), make_card(program=program, store=store)
    ok(post(api, first, "earn-points", {"purchase_amount": "10.00", "order_reference": "R-1"}))
    error_of(
        post(api, second, "earn-points", {"purchase_amount": "10.00", "order_reference": "R-1"}), 409, "duplicate_order"
    )


def test_earn_on_stamps_program_is_409(api, program, store):
    program.kind = "stamps"
    program.save()
    card = make_card(program=program, store=store)
    error_of(post(api, card, "earn-points", {"purchase_amount": "10.00"}), 409, "points_not_enabled")


# --- redeem points ---------------------------------------------------------------------------------------


def test_redeem_reward(api, card):
    reward = RewardFactory(program=card.program, name="Croissant", points_cost=30)
    ok(post(api, card, "earn-points", {"purchase_amount": "50.00"}))
    data = ok(post(api, card, "redeem-points", {"reward_id": reward.pk}))
    assert data["transaction"]["points_delta"] == -30 and data["transaction"]["reward_name"] == "Croissant"
    assert data["card"]["points_balance"] == 20 and data["card"]["rewards_affordable"] == []
    assert ledger(card)[-1].reward == reward


def test_redeem_amount_and_insufficient_points(api, card):
    ok(post(api, card, "earn-points", {"purchase_amount": "20.00"}))
    assert ok(post(api, card, "redeem-points", {"points": 15}))["card"]["points_balance"] == 5
    error = error_of(post(api, card, "redeem-points", {"points": 6}), 409, "insufficient_points")
    assert error["details"] == {"points_balance": 5, "points_required": 6}


def test_redeem_unknown_reward_is_400(api, card):
    other_program_reward = RewardFactory(points_cost=1)
    retired = RewardFactory(program=card.program, points_cost=1, is_active=False)
    for reward_id in (999999, other_program_reward.pk, retired.pk):
        error = error_of(post(api, card, "redeem-points", {"reward_id": reward_id}), 400, "unknown_reward")
        assert "reward_id" in error["details"]


@pytest.mark.parametrize("points", ["1.5", 1.5, 2.0, "15", True, 0, -3, 1_000_001])
def test_redeem_points_must_be_a_whole_positive_number(api, card, points):
    error = error_of(post(api, card, "redeem-points", {"points": points}), 400, "invalid_amount")
    assert "points" in error["details"]


@pytest.mark.parametrize("both", [False, True])
def test_redeem_needs_exactly_one_of_reward_or_points(api, card, both):
    body = {"points": 1, "reward_id": RewardFactory(program=card.program).pk} if both else {}
    error = error_of(post(api, card, "redeem-points", body), 400, "invalid_input")
    assert error["message"] == "Send either reward_id or points."


# --- void points ----------------------------------------------------------------------------------------------


def test_void_against_an_earn(api, card):
    earn = ok(post(api, card, "earn-points", {"purchase_amount": "30.00", "order_reference": "R-7"}))["transaction"]
    data = ok(post(api, card, "void-points", {"transaction_id": earn["id"]}))
    assert data["transaction"]["points_delta"] == -30
    assert data["transaction"]["related_transaction_id"] == earn["id"]
    assert data["card"]["points_balance"] == 0 and data["card"]["lifetime_points_voided"] == 30
    assert data["card"]["recent_transactions"][1]["points_voidable"] == 0
    error_of(post(api, card, "void-points", {"transaction_id": earn["id"]}), 409, "already_voided")


def test_void_an_amount_needs_a_reason(api, card):
    ok(post(api, card, "earn-points", {"purchase_amount": "30.00"}))
    error = error_of(post(api, card, "void-points", {"points": 10}), 400, "reason_required")
    assert "reason" in error["details"]
    data = ok(post(api, card, "void-points", {"points": 10, "reason": "Broken cup returned"}))
    assert data["transaction"]["reason"] == "Broken cup returned" and data["card"]["points_balance"] == 20
    error_of(post(api, card, "void-points", {"points": 21, "reason": "x"}), 409, "insufficient_points")


def test_void_unknown_or_foreign_transaction_is_400(api, card):
    other = make_card(program=card.program)
    foreign_earn = services.earn_points(card=other, purchase_amount=Decimal("5"), store=None, staff_user=None)
    stamp = ok(post(api, card, "stamp"))["transaction"]
    for transaction_id in (999999, foreign_earn.transaction.pk, stamp["id"]):
        error_of(post(api, card, "void-points", {"transaction_id": transaction_id}), 400, "unknown_transaction")


@pytest.mark.parametrize("body", [{}, {"transaction_id": 1, "points": 1, "reason": "x"}, {"transaction_id": "1"}])
def test_void_bad_input_is_400(api, card, body):
    error_of(post(api, card, "void-points", body), 400, "invalid_input")


# --- adjust ------------------------------------------------------------------------------------------------------


def test_adjust_by_manager(manager, card, store):
    api = client_for(manager)
    data = ok(post(api, card, "adjust", {"points_delta": 40, "stamps_delta": 2, "reason": "Lost card"}))
    assert data["card"]["points_balance"] == 40 and data["card"]["stamp_count"] == 2
    row = ledger(card)[-1]
    assert (row.reason, row.staff_user, row.store, row.points_delta, row.stamps_delta) == (
        "Lost card",
        manager.user,
        store,
        40,
        2,
    )
    error = error_of(post(api, card, "adjust", {"points_delta": -41, "reason": "Oops"}), 409, "insufficient_points")
    assert error["details"] == {"points_balance": 40}
    error_of(post(api, card, "adjust", {"stamps_delta": -3, "reason": "Oops"}), 409, "insufficient_stamps")


def test_adjust_by_owner(card, store):
    owner = StaffMemberFactory(merchant=card.merchant, stores=[store], role="owner")
    ok(post(client_for(owner), card, "adjust", {"stamps_delta": 1, "reason": "Goodwill"}))


def test_adjust_by_cashier_is_403(api, card):
    error_of(post(api, card, "adjust", {"points_delta": 5, "reason": "Because"}), 403, "permission_denied")
    assert len(ledger(card)) == 1


@pytest.mark.parametrize(
    "body,code",
    [
        ({"points_delta": 5}, "reason_required"),
        ({"points_delta": 5, "reason": "   "}, "reason_required"),
        ({"reason": "Nothing"}, "invalid_input"),
        ({"points_delta": 0, "stamps_delta": 0, "reason": "Nothing"}, "invalid_input"),
        ({"points_delta": 1.5, "reason": "x"}, "invalid_amount"),
        ({"points_delta": "5", "reason": "x"}, "invalid_amount"),
        ({"points_delta": 1_000_001, "reason": "x"}, "invalid_amount"),
        ({"stamps_delta": 1001, "reason": "x"}, "invalid_amount"),
        ({"stamps_delta": False, "reason": "x"}, "invalid_amount"),
        ({"points_delta": 5, "reason": "x" * 256}, "invalid_input"),
    ],
)
def test_adjust_bad_input_is_400(manager, card, body, code):
    error_of(post(client_for(manager), card, "adjust", body), 400, code)
    assert len(ledger(card)) == 1


# --- staff PIN on operations -----------------------------------------------------------------------------------


@pytest.fixture
def pin_program(program):
    program.require_staff_pin = True
    program.save()
    return program


def test_pin_required_by_program(api, pin_program, card):
    error_of(post(api, card, "stamp"), 400, "pin_required")
    error = error_of(post(api, card, "stamp", {"staff_pin": "9999"}), 403, "invalid_pin")
    assert error["details"] == {"attempts_left": 4}
    data = ok(post(api, card, "stamp", {"staff_pin": "1234"}))
    assert data["card"]["program"]["require_staff_pin"] is True
    assert "staff_pin" not in data["transaction"]


def test_pin_locked_after_five_wrong_pins_on_operations(api, pin_program, card, cashier):
    for _ in range(4):
        error_of(post(api, card, "stamp", {"staff_pin": "0000"}), 403, "invalid_pin")
    error = error_of(post(api, card, "stamp", {"staff_pin": "0000"}), 423, "pin_locked")
    assert "locked_until" in error["details"]
    error_of(post(api, card, "stamp", {"staff_pin": "1234"}), 423, "pin_locked")
    assert len(ledger(card)) == 1


def test_pin_not_checked_when_program_does_not_require_it(api, card):
    ok(post(api, card, "stamp", {"staff_pin": "0000"}))


def test_cooldown_message_after_a_late_retry_is_plain(api, program, store):
    program.stamp_cooldown_minutes = 1
    program.save()
    card = make_card(program=program, store=store)
    services.add_stamp(card=card, store=store, staff_user=None, now=timezone.now() - datetime.timedelta(seconds=30))
    error = error_of(post(api, card, "stamp"), 409, "cooldown_active")
    assert "seconds" in error["message"]
