"""Idempotency-Key on POS mutations: replay, conflicts, refusals that keep nothing, concurrency."""

import datetime
import uuid
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from loyalty import idempotency, services
from loyalty.models import IdempotencyRecord, LoyaltyTransaction
from merchants.tokens import issue_token
from tests.factories import ProgramFactory, RewardFactory, StaffMemberFactory, StoreFactory, make_card
from tests.loyalty.test_api_cards import client_for, error_of
from tests.support import postgres_only, run_concurrently

Type = LoyaltyTransaction.Type


def post(client, card, action, body, key):
    return client.post(f"/api/v1/cards/{card.card_number}/{action}/", body, format="json", HTTP_IDEMPOTENCY_KEY=key)


@pytest.fixture
def api(cashier):
    return client_for(cashier)


@pytest.mark.parametrize(
    "action,body,type_",
    [
        ("stamp", {}, Type.STAMP),
        ("earn-points", {"purchase_amount": "12.50", "order_reference": "A-1"}, Type.POINTS_EARN),
        ("redeem-points", {"points": 5}, Type.POINTS_REDEEM),
        ("void-points", {"points": 5, "reason": "Return"}, Type.POINTS_VOID),
    ],
)
def test_replay_returns_the_same_body_and_changes_nothing(api, card, action, body, type_):
    services.earn_points(card=card, purchase_amount=Decimal("40"), store=None, staff_user=None)
    key = str(uuid.uuid4())
    first = post(api, card, action, body, key)
    assert first.status_code == 200, first.content
    second = post(api, card, action, body, key)
    assert second.status_code == 200
    assert second.content == first.content
    assert second["Idempotent-Replayed"] == "true"
    assert not first.has_header("Idempotent-Replayed")
    assert card.transactions.filter(type=type_).count() == (2 if type_ == Type.POINTS_EARN else 1)
    rows = LoyaltyTransaction.objects.filter(idempotency_key=key)
    assert rows.count() == 1 and rows.get().type == type_


def test_replay_of_stamp_with_dashless_card_number_in_url(api, card):
    key = str(uuid.uuid4())
    first = post(api, card, "stamp", {}, key)
    again = api.post(
        f"/api/v1/cards/{card.card_number.replace('-', '')}/stamp/", {}, format="json", HTTP_IDEMPOTENCY_KEY=key
    )
    assert again.status_code == 200 and again.content == first.content
    assert card.transactions.filter(type=Type.STAMP).count() == 1


def test_same_key_other_body_is_409(api, card):
    key = str(uuid.uuid4())
    assert post(api, card, "earn-points", {"purchase_amount": "10.00"}, key).status_code == 200
    error_of(post(api, card, "earn-points", {"purchase_amount": "11.00"}, key), 409, "idempotency_conflict")
    error_of(post(api, card, "stamp", {}, key), 409, "idempotency_conflict")
    other_card = make_card(program=card.program)
    error_of(post(api, other_card, "earn-points", {"purchase_amount": "10.00"}, key), 409, "idempotency_conflict")
    assert LoyaltyTransaction.objects.filter(type=Type.POINTS_EARN).count() == 1


def test_same_key_from_another_cashier_is_409(api, card, store):
    key = str(uuid.uuid4())
    assert post(api, card, "stamp", {}, key).status_code == 200
    colleague = client_for(StaffMemberFactory(merchant=card.merchant, stores=[store]))
    error_of(post(colleague, card, "stamp", {}, key), 409, "idempotency_conflict")


def test_keys_are_per_merchant(api, card):
    key = str(uuid.uuid4())
    assert post(api, card, "stamp", {}, key).status_code == 200
    other_program = ProgramFactory()
    other_store = StoreFactory(merchant=other_program.merchant)
    other_card = make_card(program=other_program, store=other_store)
    other = client_for(StaffMemberFactory(merchant=other_program.merchant, stores=[other_store]))
    assert post(other, other_card, "stamp", {}, key).status_code == 200
    assert LoyaltyTransaction.objects.filter(idempotency_key=key).count() == 2


def test_refusal_releases_the_key_so_a_corrected_retry_runs(api, program, card):
    """A wrong PIN changed nothing: the same key with the right PIN (PIN not part of the body hash) applies."""
    program.require_staff_pin = True
    program.save()
    key = str(uuid.uuid4())
    error_of(post(api, card, "stamp", {"staff_pin": "0000"}, key), 403, "invalid_pin")
    assert not IdempotencyRecord.objects.filter(key=key).exists()
    first = post(api, card, "stamp", {"staff_pin": "1234"}, key)
    assert first.status_code == 200
    replay = post(api, card, "stamp", {"staff_pin": "1234"}, key)
    assert replay.content == first.content
    assert card.transactions.filter(type=Type.STAMP).count() == 1


def test_refused_operation_is_not_stored(api, card):
    key = str(uuid.uuid4())
    error_of(post(api, card, "redeem-stamps", {}, key), 409, "insufficient_stamps")
    assert not IdempotencyRecord.objects.filter(key=key).exists()


def test_the_key_is_stored_on_the_ledger_row_too(api, card):
    key = str(uuid.uuid4())
    post(api, card, "stamp", {}, key)
    assert card.transactions.get(type=Type.STAMP).idempotency_key == key


def test_ledger_dedupes_when_the_record_is_gone(api, card):
    """Even if the stored answer were lost, the services dedupe by the ledger's key."""
    key = str(uuid.uuid4())
    first = post(api, card, "stamp", {}, key).json()
    IdempotencyRecord.objects.all().delete()
    again = post(api, card, "stamp", {}, key).json()
    assert again["transaction"]["id"] == first["transaction"]["id"]
    assert card.transactions.filter(type=Type.STAMP).count() == 1


@pytest.mark.parametrize("key", ["x" * 101, "has space", "é", ""])
def test_malformed_key_is_400(api, card, key):
    response = api.post(f"/api/v1/cards/{card.card_number}/stamp/", {}, format="json", headers={"Idempotency-Key": key})
    error_of(response, 400, "invalid_idempotency_key")
    assert card.transactions.filter(type=Type.STAMP).count() == 0


def test_without_a_key_every_request_applies(api, card):
    api.post(f"/api/v1/cards/{card.card_number}/stamp/", {}, format="json")
    api.post(f"/api/v1/cards/{card.card_number}/stamp/", {}, format="json")
    assert card.transactions.filter(type=Type.STAMP).count() == 2


def test_an_answer_never_kept_is_rebuilt_from_the_ledger(api, card, cashier):
    # The process died after the commit, before keeping its answer: the ledger still knows the key.
    key = str(uuid.uuid4())
    first = services.add_stamp(card=card, store=None, staff_user=cashier.user, idempotency_key=key)
    assert not IdempotencyRecord.objects.exists()
    response = post(api, card, "stamp", {}, key)
    assert response.status_code == 200, response.content
    assert response["Idempotent-Replayed"] == "true"
    assert response.json()["transaction"]["id"] == first.transaction.pk
    assert card.transactions.filter(type=Type.STAMP).count() == 1


def test_a_repeat_is_answered_before_the_rules_the_first_changed(api, card, program):
    # The first stamp started a cooldown; its repeat is the same operation, so the cashier sees
    # the first result, not "stamped moments ago". A new key meets the cooldown as usual.
    program.stamp_cooldown_minutes = 10
    program.save()
    key = str(uuid.uuid4())
    first = post(api, card, "stamp", {}, key)
    again = post(api, card, "stamp", {}, key)
    assert again.status_code == 200 and again.content == first.content
    error_of(post(api, card, "stamp", {}, str(uuid.uuid4())), 409, "cooldown_active")


def test_purge_removes_old_records(api, card):
    post(api, card, "stamp", {}, "old-key")
    IdempotencyRecord.objects.update(started_at=timezone.now() - datetime.timedelta(days=3))
    post(api, card, "stamp", {}, "new-key")
    assert idempotency.purge_expired() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new-key"]


# --- concurrency (PostgreSQL: real row locks and concurrent connections) ----------------------------------


def _token_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@postgres_only
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("action,body", [("stamp", {}), ("earn-points", {"purchase_amount": "9.99"})])
def test_concurrent_requests_with_one_key_apply_once(action, body):
    program = ProgramFactory()
    store = StoreFactory(merchant=program.merchant, code="main")
    cashier = StaffMemberFactory(merchant=program.merchant, stores=[store])
    card = make_card(program=program, store=store)
    token = issue_token(user=cashier.user)[0]
    key = str(uuid.uuid4())

    def attempt():
        return _token_client(token).post(
            f"/api/v1/cards/{card.card_number}/{action}/", body, format="json", HTTP_IDEMPOTENCY_KEY=key
        )

    responses = run_concurrently([attempt] * 6)
    for response in responses:
        assert not isinstance(response, Exception), response
    # Each repeat waits for the first (the card's row lock, the ledger's unique key) and answers with it.
    assert [r.status_code for r in responses] == [200] * 6, [r.content for r in responses]
    assert len({r.json()["transaction"]["id"] for r in responses}) == 1
    assert sum(not r.has_header("Idempotent-Replayed") for r in responses) == 1
    assert LoyaltyTransaction.objects.filter(idempotency_key=key).count() == 1
    card.refresh_from_db()
    expected_stamps = 1 if action == "stamp" else 0
    assert card.stamp_count == expected_stamps


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_different_keys_all_apply():
    program = ProgramFactory()
    store = StoreFactory(merchant=program.merchant, code="main")
    cashier = StaffMemberFactory(merchant=program.merchant, stores=[store])
    card = make_card(program=program, store=store)
    RewardFactory(program=program)
    token = issue_token(user=cashier.user)[0]

    def attempt():
        return _token_client(token).post(
            f"/api/v1/cards/{card.card_number}/stamp/", {}, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4())
        )

    responses = run_concurrently([attempt] * 5)
    assert [r.status_code for r in responses] == [200] * 5
    card.refresh_from_db()
    assert card.stamp_count == 5
