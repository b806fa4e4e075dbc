"""Staff API reads: token, card lookup, card detail, transactions; scoping and query counts."""

import datetime
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from loyalty import services
from loyalty.models import LoyaltyTransaction
from loyalty.selectors import transactions_for_display
from merchants.models import StaffMember
from merchants.tokens import issue_token
from tests.factories import (
    CustomerFactory,
    MerchantFactory,
    ProgramFactory,
    RewardFactory,
    StaffMemberFactory,
    StoreFactory,
    UserFactory,
    make_card,
)
from tests.support import ON_POSTGRES


def client_for(member: StaffMember) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {issue_token(user=member.user)[0]}")
    return client


def error_of(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]
    return body["error"]


@pytest.fixture
def api(cashier):
    return client_for(cashier)


@pytest.fixture
def foreign_card(db):
    return make_card()  # another merchant's card


# --- token ---------------------------------------------------------------------------------


def test_token_for_staff_and_then_calls_with_it(cashier, card):
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": cashier.user.username, "password": "pass-word-1234"}, format="json"
    )
    assert response.status_code == 200
    token = response.json()["token"]
    assert cashier.user.staff_tokens.count() == 1
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get(f"/api/v1/cards/{card.card_number}/").status_code == 200


def test_token_wrong_password_is_401(cashier):
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": cashier.user.username, "password": "nope"}, format="json"
    )
    error_of(response, 401, "invalid_credentials")
    assert response["WWW-Authenticate"] == "Token"


def test_token_missing_fields_is_400_with_field_details(db):
    error = error_of(APIClient().post("/api/v1/auth/token/", {}, format="json"), 400, "invalid_input")
    assert set(error["details"]) == {"username", "password"}


def test_token_refused_to_non_staff(db):
    user = UserFactory()
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": user.username, "password": "pass-word-1234"}, format="json"
    )
    error_of(response, 403, "not_staff")


def test_token_refused_when_merchant_inactive(cashier):
    cashier.merchant.is_active = False
    cashier.merchant.save()
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": cashier.user.username, "password": "pass-word-1234"}, format="json"
    )
    error_of(response, 403, "not_staff")


def test_malformed_json_is_400(cashier):
    response = APIClient().post("/api/v1/auth/token/", data="{not json", content_type="application/json")
    error_of(response, 400, "parse_error")


# --- authentication and staff membership -------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/api/v1/cards/lookup/?q=x", "/api/v1/cards/1234-5678-9012/", "/api/v1/cards/1234-5678-9012/transactions/"],
)
def test_reads_need_authentication(db, path):
    response = APIClient().get(path)
    error_of(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Token"


def test_bad_token_is_401(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    error_of(client.get("/api/v1/cards/lookup/?q=x"), 401, "authentication_failed")


def test_token_of_a_deactivated_user_is_401(cashier, card):
    client = client_for(cashier)
    cashier.user.is_active = False
    cashier.user.save(update_fields=["is_active"])
    error_of(client.get(f"/api/v1/cards/{card.card_number}/"), 401, "authentication_failed")


def test_user_without_staff_membership_is_403(card):
    user = UserFactory()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {issue_token(user=user)[0]}")
    error_of(client.get(f"/api/v1/cards/{card.card_number}/"), 403, "not_staff")


def test_staff_of_inactive_merchant_is_403(api, cashier, card):
    cashier.merchant.is_active = False
    cashier.merchant.save()
    error_of(api.get(f"/api/v1/cards/{card.card_number}/"), 403, "merchant_inactive")


def test_session_auth_works_and_needs_csrf_for_writes(cashier, card):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(cashier.user)
    assert client.get(f"/api/v1/cards/{card.card_number}/").status_code == 200
    error_of(client.post(f"/api/v1/cards/{card.card_number}/stamp/", {}, format="json"), 403, "permission_denied")
    card.refresh_from_db()
    assert card.stamp_count == 0


# --- lookup -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "q",
    [
        lambda c: c.card_number,
        lambda c: c.card_number.replace("-", ""),
        lambda c: c.card_number.replace("-", " "),
        lambda c: c.qr_code_data,
        lambda c: f"http://127.0.0.1:8000/card/{c.qr_code_data}/",
        lambda c: c.customer.email.upper(),
        lambda c: c.customer.phone,
    ],
    ids=["number", "digits", "spaces", "qr", "qr-url", "email", "phone"],
)
def test_lookup_finds_the_card(api, card, q):
    response = api.get("/api/v1/cards/lookup/", {"q": q(card)})
    assert response.status_code == 200, response.content
    assert response.json()["card_number"] == card.card_number


def test_lookup_phone_ignores_spaces_and_dots(api, program):
    customer = CustomerFactory(merchant=program.merchant, phone="+33612345678")  # stored in E.164
    card = make_card(program=program, customer=customer)
    for typed in ("+33612345678", "+33.6.12.34.56.78", "+33 6 12 34 56 78", "06 12 34 56 78", "06-12-34-56-78"):
        response = api.get("/api/v1/cards/lookup/", {"q": typed})
        assert response.status_code == 200, typed
        assert response.json()["card_number"] == card.card_number


def test_lookup_shared_phone_is_409_with_choices(api, program):
    first = make_card(program=program, customer=CustomerFactory(merchant=program.merchant, phone="+33611223344"))
    second = make_card(program=program, customer=CustomerFactory(merchant=program.merchant, phone="+33611223344"))
    error = error_of(api.get("/api/v1/cards/lookup/", {"q": "06 11 22 33 44"}), 409, "multiple_matches")
    assert {c["card_number"] for c in error["details"]["cards"]} == {first.card_number, second.card_number}


def test_lookup_unknown_is_404(api, card):
    error_of(api.get("/api/v1/cards/lookup/", {"q": "0000-0000-0000"}), 404, "card_not_found")
    error_of(api.get("/api/v1/cards/lookup/", {"q": "nobody@example.com"}), 404, "card_not_found")


def test_lookup_without_q_is_400(api):
    error = error_of(api.get("/api/v1/cards/lookup/"), 400, "query_required")
    assert "q" in error["details"]
    error_of(api.get("/api/v1/cards/lookup/", {"q": "  "}), 400, "query_required")


def test_lookup_never_finds_another_merchants_card(api, card, foreign_card):
    for q in (
        foreign_card.card_number,
        foreign_card.qr_code_data,
        foreign_card.customer.email,
        foreign_card.customer.phone,
    ):
        error_of(api.get("/api/v1/cards/lookup/", {"q": q}), 404, "card_not_found")


def test_lookup_ignores_deleted_cards(api, card):
    services.soft_delete_cards(card_ids=[card.pk])
    error_of(api.get("/api/v1/cards/lookup/", {"q": card.card_number}), 404, "card_not_found")


# --- detail -----------------------------------------------------------------------------------------


def test_detail_shows_card_customer_rules_rewards_and_history(api, program, store, cashier):
    program.stamps_target = 4
    program.save()
    customer = CustomerFactory(merchant=program.merchant, first_name="Zoé", last_name="Martin")
    card = make_card(program=program, store=store, customer=customer)
    cheap = RewardFactory(program=program, name="Cookie", points_cost=10)
    RewardFactory(program=program, name="Cake", points_cost=500)
    RewardFactory(program=program, name="Retired", points_cost=5, is_active=False)
    services.add_stamp(card=card, store=store, staff_user=cashier.user)
    services.earn_points(card=card, purchase_amount=Decimal("25.00"), store=store, staff_user=cashier.user)

    response = api.get(f"/api/v1/cards/{card.card_number.replace('-', '')}/")
    assert response.status_code == 200
    data = response.json()
    assert data["card_number"] == card.card_number
    assert (data["stamp_count"], data["stamps_until_reward"], data["stamp_reward_available"]) == (1, 3, False)
    assert data["points_balance"] == 25
    assert data["customer"] == {
        "first_name": "Zoé",
        "last_name": "Martin",
        "name": "Zoé Martin",
        "birthday_week": False,
    }
    assert data["program"]["stamps_target"] == 4 and data["program"]["points_per_euro"] == "1.00"
    assert data["program"]["require_staff_pin"] is False
    assert [r["id"] for r in data["rewards_affordable"]] == [cheap.pk]
    types = [row["type"] for row in data["recent_transactions"]]
    assert types == ["points_earn", "stamp", "welcome_bonus"]
    earn = data["recent_transactions"][0]
    assert (earn["points_delta"], earn["purchase_amount"], earn["store"], earn["staff"], earn["points_voidable"]) == (
        25,
        "25.00",
        "main",
        cashier.user.username,
        25,
    )
    assert "birth_date" not in data["customer"] and "qr_code_data" not in data


def test_detail_birthday_flag(api, program):
    today = timezone.localdate()
    customer = CustomerFactory(
        merchant=program.merchant, birth_date=datetime.date(1990, today.month, min(today.day, 28))
    )
    card = make_card(program=program, customer=customer)
    assert api.get(f"/api/v1/cards/{card.card_number}/").json()["customer"]["birthday_week"] is True


def test_detail_of_another_merchants_card_is_404(api, foreign_card):
    error_of(api.get(f"/api/v1/cards/{foreign_card.card_number}/"), 404, "card_not_found")


@pytest.mark.parametrize("number", ["0000-0000-0000", "garbage", "1234-5678-901"])
def test_detail_unknown_is_404(api, card, number):
    error_of(api.get(f"/api/v1/cards/{number}/"), 404, "card_not_found")


def test_superuser_without_staff_membership_cannot_use_the_pos_api(card):
    admin = UserFactory(is_superuser=True, is_staff=True)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {issue_token(user=admin)[0]}")
    error_of(client.get(f"/api/v1/cards/{card.card_number}/"), 403, "not_staff")


# --- transactions ----------------------------------------------------------------------------------------


def test_transactions_paginated_newest_first(api, card, store, cashier):
    for _ in range(25):
        services.add_stamp(card=card, store=store, staff_user=cashier.user)
    first = api.get(f"/api/v1/cards/{card.card_number}/transactions/").json()
    assert first["count"] == 26 and len(first["results"]) == 20 and first["next"]
    ids = [row["id"] for row in first["results"]]
    assert ids == sorted(ids, reverse=True)
    second = api.get(first["next"]).json()
    assert len(second["results"]) == 6 and second["results"][-1]["type"] == "welcome_bonus"
    stamps = api.get(f"/api/v1/cards/{card.card_number}/transactions/", {"type": "stamp", "page_size": 5}).json()
    assert stamps["count"] == 25 and len(stamps["results"]) == 5


def test_transactions_errors(api, card, foreign_card):
    error_of(api.get(f"/api/v1/cards/{foreign_card.card_number}/transactions/"), 404, "card_not_found")
    error_of(api.get(f"/api/v1/cards/{card.card_number}/transactions/", {"type": "nope"}), 400, "invalid_input")
    error_of(api.get(f"/api/v1/cards/{card.card_number}/transactions/", {"page": 99}), 404, "not_found")


def _ledger_with_ties(card, rows: int) -> None:
    """``rows`` ledger rows written in bulk, several sharing a created_at (the id breaks the tie), earns
    with part of their points voided later."""
    Row = LoyaltyTransaction
    start = timezone.now() - datetime.timedelta(days=30)
    made = Row.objects.bulk_create(
        Row(
            card=card,
            merchant=card.merchant,
            type=Row.Type.POINTS_EARN if n % 3 == 0 else Row.Type.STAMP,
            points_delta=10 if n % 3 == 0 else 0,
            stamps_delta=0 if n % 3 == 0 else 1,
            stamps_after=0,
            points_after=0,
            created_at=start + datetime.timedelta(minutes=n // 4),  # four rows a minute
        )
        for n in range(rows)
    )
    Row.objects.bulk_create(
        Row(
            card=card,
            merchant=card.merchant,
            type=Row.Type.POINTS_VOID,
            points_delta=-4,
            stamps_after=0,
            points_after=0,
            related_transaction=earn,
            created_at=earn.created_at + datetime.timedelta(days=1),
        )
        for earn in made
        if earn.type == Row.Type.POINTS_EARN and earn.pk % 2
    )


def test_every_page_is_the_offset_page_of_the_whole_ledger(api, card):
    """Later pages read the page's ids from the index first (selectors.LedgerPages): the same rows in the
    same order, with the same fields, as the first rows of the ledger skipped one by one."""
    _ledger_with_ties(card, 60)
    everything = api.get(f"/api/v1/cards/{card.card_number}/transactions/", {"page_size": 100}).json()
    assert everything["count"] == len(everything["results"]) > 60
    newest_first = list(LoyaltyTransaction.objects.filter(card=card).order_by("-created_at", "-id"))
    assert [row["id"] for row in everything["results"]] == [row.pk for row in newest_first]
    assert any(row["points_voidable"] not in (None, 10) for row in everything["results"])  # voids are counted
    pages = []
    for page in range(1, 100):
        answer = api.get(f"/api/v1/cards/{card.card_number}/transactions/", {"page": page, "page_size": 7}).json()
        pages.extend(answer["results"])
        if not answer["next"]:
            break
    assert pages == everything["results"]
    earns = api.get(f"/api/v1/cards/{card.card_number}/transactions/", {"type": "points_earn", "page_size": 100})
    third = api.get(
        f"/api/v1/cards/{card.card_number}/transactions/", {"type": "points_earn", "page": 3, "page_size": 4}
    )
    assert third.json()["results"] == earns.json()["results"][8:12]


def test_a_later_page_costs_the_same_queries_as_the_first(api, card, django_assert_num_queries):
    _ledger_with_ties(card, 60)
    # token with user and staff, card, count, page
    with django_assert_num_queries(4):
        response = api.get(f"/api/v1/cards/{card.card_number}/transactions/", {"page": 3})
    assert len(response.json()["results"]) == 20


def test_a_slice_of_the_display_ledger_is_the_same_rows_by_any_path(card):
    _ledger_with_ties(card, 30)
    whole = list(transactions_for_display(card))
    for start, stop in [(0, 5), (1, 6), (7, 19), (25, 60), (40, 50)]:
        sliced = list(transactions_for_display(card)[start:stop])
        assert [row.pk for row in sliced] == [row.pk for row in whole[start:stop]]
        assert [row.points_voided for row in sliced] == [row.points_voided for row in whole[start:stop]]
    stamps = transactions_for_display(card).filter(type="stamp")
    assert [row.pk for row in stamps[3:9]] == [row.pk for row in list(stamps)[3:9]]
    assert transactions_for_display(card)[4].pk == whole[4].pk


@pytest.mark.skipif(not ON_POSTGRES, reason="reads PostgreSQL's query plan (EXPLAIN)")
def test_a_later_page_reads_its_ids_from_the_index_alone(card, program):
    _ledger_with_ties(card, 60)
    for _ in range(5):  # the other cards of a ledger
        _ledger_with_ties(make_card(program=program), 100)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE loyalty_loyaltytransaction")
        # A few hundred rows: PostgreSQL would read them all and sort them. With those plans off, the plan
        # shows what it does at 12,000 rows (and without an index in that order it would still sort).
        for plan in ("seqscan", "bitmapscan", "sort"):
            cursor.execute(f"SET LOCAL enable_{plan} = off")
        sql, params = transactions_for_display(card)[40:60].query.sql_with_params()
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    # The rows skipped are index entries read in the index's order (a Limit right on the index scan, no
    # sort); the joins and the voided points are computed for the page's rows only.
    assert re.search(r"Limit .*\n\s*->  Index (Only )?Scan using ledger_card_created_id_idx", plan), plan


def test_method_not_allowed_in_error_shape(api, card):
    error_of(api.delete(f"/api/v1/cards/{card.card_number}/"), 405, "method_not_allowed")


# --- query counts ---------------------------------------------------------------------------------------


def _busy_card(program, store, cashier):
    card = make_card(program=program, store=store)
    for index in range(15):
        RewardFactory(program=program, points_cost=1 + index)
        services.earn_points(card=card, purchase_amount=Decimal("3.00"), store=store, staff_user=cashier.user)
        services.add_stamp(card=card, store=store, staff_user=cashier.user)
    return card


# Token with its user, staff membership and merchant (1), then the card with customer and
# program (1), affordable rewards (1), recent transactions with store, staff, reward and voided points (1).
DETAIL_QUERIES = 4


def test_detail_query_count_is_fixed(api, program, store, cashier, django_assert_num_queries):
    card = _busy_card(program, store, cashier)
    with django_assert_num_queries(DETAIL_QUERIES):
        response = api.get(f"/api/v1/cards/{card.card_number}/")
    assert response.status_code == 200 and len(response.json()["recent_transactions"]) == 10


@pytest.mark.parametrize("field", ["card_number", "email", "phone", "qr"])
def test_lookup_query_count_is_fixed(api, program, store, cashier, django_assert_num_queries, field):
    card = _busy_card(program, store, cashier)
    q = {
        "card_number": card.card_number,
        "email": card.customer.email,
        "phone": card.customer.phone,
        "qr": card.qr_code_data,
    }[field]
    with django_assert_num_queries(DETAIL_QUERIES):
        response = api.get("/api/v1/cards/lookup/", {"q": q})
    assert response.status_code == 200


def test_transactions_query_count_is_fixed(api, program, store, cashier, django_assert_num_queries):
    card = _busy_card(program, store, cashier)
    # token with user and staff, card, count, page
    with django_assert_num_queries(4):
        assert api.get(f"/api/v1/cards/{card.card_number}/transactions/").status_code == 200


def test_staff_of_two_merchants_see_only_their_own(db):
    merchant_a, merchant_b = MerchantFactory(), MerchantFactory()
    program_a, program_b = ProgramFactory(merchant=merchant_a), ProgramFactory(merchant=merchant_b)
    store_a = StoreFactory(merchant=merchant_a)
    card_a, card_b = make_card(program=program_a), make_card(program=program_b)
    client = client_for(StaffMemberFactory(merchant=merchant_a, stores=[store_a]))
    assert client.get(f"/api/v1/cards/{card_a.card_number}/").status_code == 200
    assert client.get(f"/api/v1/cards/{card_b.card_number}/").status_code == 404


# --- every endpoint: 401 without credentials, 403 for a user who is not staff ------------------------------

ENDPOINTS = [
    ("get", "/api/v1/cards/lookup/?q={number}"),
    ("get", "/api/v1/cards/{number}/"),
    ("get", "/api/v1/cards/{number}/transactions/"),
    ("post", "/api/v1/cards/{number}/stamp/"),
    ("post", "/api/v1/cards/{number}/redeem-stamps/"),
    ("post", "/api/v1/cards/{number}/earn-points/"),
    ("post", "/api/v1/cards/{number}/redeem-points/"),
    ("post", "/api/v1/cards/{number}/void-points/"),
    ("post", "/api/v1/cards/{number}/adjust/"),
    ("post", "/api/v1/staff/pin/verify/"),
    ("post", "/api/v1/staff/{staff}/pin/unlock/"),
    ("get", "/api/v1/staff/"),
    ("get", "/api/v1/staff/me/"),
]


@pytest.mark.parametrize("method,path", ENDPOINTS)
def test_every_endpoint_needs_a_staff_member(card, cashier, method, path):
    url = path.format(number=card.card_number, staff=cashier.pk)
    error_of(getattr(APIClient(), method)(url, {}, format="json"), 401, "not_authenticated")
    outsider = APIClient()
    outsider.credentials(HTTP_AUTHORIZATION=f"Token {issue_token(user=UserFactory())[0]}")
    error_of(getattr(outsider, method)(url, {}, format="json"), 403, "not_staff")
    assert card.transactions.count() == 1
