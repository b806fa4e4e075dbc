"""Database round trips of every POS mutation, pinned (issue 18: a stamp with a PIN and a key cost 17).

Counted as production runs them: autocommit (``transaction=True``), so BEGIN and COMMIT are
round trips in the count too. A stamp with a PIN and an Idempotency-Key: the token (with the
staff row, whose PIN is checked in Python), the store, BEGIN, the card locked (with whether
the key was applied, in the same query), one statement saving the card, its ledger row and its
wallet outbox row, COMMIT, the answer's recent transactions and the kept answer: 8. The
program's rewards, promotions and tiers are kept in memory under its updated_at.
"""

import uuid

import pytest

from loyalty import services
from merchants.pins import set_pin
from tests.factories import ProgramFactory, RewardFactory, StaffMemberFactory, StoreFactory, make_card
from tests.loyalty.test_api_cards import client_for
from tests.support import postgres_only

# PostgreSQL, as deployed: the embedded SQLite takes a different path in places (no row locks, no RETURNING).
pytestmark = [postgres_only, pytest.mark.django_db(transaction=True)]

PIN = "4321"


@pytest.fixture
def till():
    program = ProgramFactory(kind="hybrid", require_staff_pin=True, stamps_target=3)
    store = StoreFactory(merchant=program.merchant, code="main")
    cashier = StaffMemberFactory(merchant=program.merchant, stores=[store], role="manager")
    set_pin(staff=cashier, pin=PIN)
    card = make_card(program=program, store=store)
    services.earn_points(card=card, purchase_amount="50", store=store, staff_user=None)
    for _ in range(3):
        services.adjust_balance(card=card, staff_user=cashier.user, stamps_delta=1, reason="setup")
    return program, card, cashier, client_for(cashier)


def post(api, card, action, body, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key or str(uuid.uuid4())}
    response = api.post(
        f"/api/v1/cards/{card.card_number}/{action}/", {**body, "staff_pin": PIN}, format="json", **headers
    )
    assert response.status_code == 200, response.content
    return response


def test_a_stamp_with_a_pin_and_a_key_takes_eight_round_trips_and_its_replay_seven(till, django_assert_num_queries):
    program, card, cashier, api = till
    post(api, card, "earn-points", {"purchase_amount": "1.00"})  # warm: the token's last use, the rewards
    key = str(uuid.uuid4())
    with django_assert_num_queries(8):
        first = post(api, card, "stamp", {}, key)
    with django_assert_num_queries(7):  # token, store, BEGIN, lock (finds the key), ledger row, COMMIT, kept answer
        again = post(api, card, "stamp", {}, key)
    assert again.content == first.content and again["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize(
    ("action", "body", "count"),
    [
        ("earn-points", {"purchase_amount": "12.50"}, 8),
        ("earn-points", {"purchase_amount": "12.50", "order_reference": "T-1"}, 8),  # the unique index checks it
        ("redeem-points", {"points": 5}, 8),
        ("void-points", {"points": 5, "reason": "Return"}, 8),
        ("redeem-stamps", {}, 8),
        ("adjust", {"points_delta": 3, "reason": "Goodwill"}, 8),
    ],
)
def test_every_mutation_keeps_its_round_trips(till, django_assert_num_queries, action, body, count):
    program, card, cashier, api = till
    post(api, card, "earn-points", {"purchase_amount": "1.00"})
    with django_assert_num_queries(count):
        post(api, card, action, body)


def test_redeeming_a_named_reward_reads_it_once_more(till, django_assert_num_queries):
    program, card, cashier, api = till
    reward = RewardFactory(program=program, points_cost=10)
    post(api, card, "earn-points", {"purchase_amount": "1.00"})
    with django_assert_num_queries(10):  # + the reward, + the card its program is checked on
        post(api, card, "redeem-points", {"reward_id": reward.pk})


def test_voiding_todays_stamp(till, django_assert_num_queries):
    program, card, cashier, api = till
    stamp = post(api, card, "stamp", {}).json()["transaction"]["id"]
    with django_assert_num_queries(10):  # + the stamp voided, + whether it was voided already
        post(api, card, "void-stamp", {"transaction_id": stamp})
