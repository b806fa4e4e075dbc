"""NUL characters and very long values in paths and queries: a clear 4xx, never a 500.

PostgreSQL refuses NUL in text and a value longer than its column, so these only bite there:
run this file with DATABASE_URL=postgres://… (tests/test_every_url.py sends the same values to
every URL pattern; this file pins the answers of the ones customers and tills use).
"""

import pytest
from django.test import Client

from tests.loyalty.test_api_cards import client_for

pytestmark = pytest.mark.django_db

LONG = "x" * 10_000


@pytest.fixture
def api(cashier):
    client = client_for(cashier)
    client.raise_request_exception = False
    return client


@pytest.fixture
def browser_client():
    return Client(raise_request_exception=False)


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [("%00", 400, "invalid_input"), ("ab%00cd", 400, "invalid_input"), (LONG, 400, "invalid_input")],
)
def test_card_lookup_with_nul_or_a_long_query_is_400(api, card, query, status, code):
    response = api.get(f"/api/v1/cards/lookup/?q={query}")
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


@pytest.mark.parametrize("suffix", ["%00", "", "/stamp", "/transactions"])
def test_a_card_number_with_nul_or_overlong_is_404(api, card, suffix):
    for number in (f"{card.card_number}%00", "%00", LONG):
        path = f"/api/v1/cards/{number}{suffix}/"
        response = api.post(path, {}, format="json") if suffix == "/stamp" else api.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] in {"card_not_found", "not_found"}


def test_staff_ids_with_nul_or_overlong_are_404(manager):
    manager_api = client_for(manager)
    manager_api.raise_request_exception = False
    for staff_id in ("%00", "1%00", LONG, "9" * 40):
        assert manager_api.post(f"/api/v1/staff/{staff_id}/pin/unlock/").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/card/ab%00cd/",
        "/card/" + "q" * 5000 + "/",
        "/join/ab%00cd/",
        "/join/" + "s" * 5000 + "/",
        "/card/%00/language/",
    ],
)
def test_public_pages_with_nul_or_overlong_values_are_404(browser_client, path):
    assert browser_client.get(path).status_code == 404
    assert browser_client.post(path).status_code in {403, 404}  # 403: no CSRF token


def test_a_store_code_with_nul_or_overlong_on_the_join_page_is_404(browser_client, program, store):
    for code in ("%00", "ma%00in", LONG):
        assert browser_client.get(f"/join/{program.merchant.slug}/?store={code}").status_code == 404


def test_the_join_form_refuses_nul_characters_with_a_message(browser_client, program, store):
    response = browser_client.post(
        f"/join/{program.merchant.slug}/",
        {
            "first_name": "Ada\x00",
            "last_name": "Love\x00lace",
            "email": "ada\x00@example.com",
            "phone": "+33612\x00345678",
            "birth_date": "1990-05-17\x00",
            "accept_terms": "on",
        },
    )
    assert response.status_code in {200, 400}
    assert not program.cards.exists()
