"""Staff API requests that are not what a till sends: OPTIONS, huge bodies, deeply nested JSON.

Each gets a deliberate answer in the SPEC's error shape, never a 500.
"""

import pytest
from rest_framework.test import APIClient

from loyalty.api.parsers import MAX_BODY_BYTES, MAX_DEPTH
from tests.loyalty.test_api_cards import client_for, error_of
from tests.loyalty.test_api_mutations import ACTIONS

pytestmark = pytest.mark.django_db

TOO_BIG = 2_700_000  # over DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MiB = 2,621,440 bytes)


def anonymous() -> APIClient:
    client = APIClient()
    client.raise_request_exception = False
    return client


@pytest.fixture
def api(manager):
    client = client_for(manager)
    client.raise_request_exception = False
    return client


def raw_post(client, path: str, body: bytes | str, **headers):
    return client.generic("POST", path, body, content_type="application/json", **headers)


@pytest.mark.parametrize("action", ACTIONS)
def test_options_on_every_mutation_describes_it(api, card, action):
    response = api.options(f"/api/v1/cards/{card.card_number}/{action}/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["allowed_methods"] == ["POST", "OPTIONS"]
    assert body["parses"] == ["application/json"]
    assert body["schema"] == "/api/v1/schema/"
    assert len(card.transactions.all()) == 1  # the welcome row only: OPTIONS changes nothing


def test_options_without_credentials_is_401_on_mutations_and_200_on_public_endpoints(card):
    client = anonymous()
    error_of(client.options(f"/api/v1/cards/{card.card_number}/stamp/"), 401, "not_authenticated")
    assert client.options("/api/v1/auth/token/").status_code == 200
    docs = client.options("/api/v1/docs/")
    assert docs.status_code == 200
    assert set(docs["Allow"].replace(" ", "").split(",")) >= {"GET", "OPTIONS"}
    assert client.head("/api/v1/docs/").status_code == 200


@pytest.mark.parametrize("action", ACTIONS)
def test_a_body_over_the_upload_limit_is_413_on_every_mutation(api, card, action):
    body = b'{"reason": "' + b"x" * TOO_BIG + b'"}'
    error = error_of(raw_post(api, f"/api/v1/cards/{card.card_number}/{action}/", body), 413, "request_too_large")
    assert error["details"] == {"max_bytes": MAX_BODY_BYTES}
    assert len(card.transactions.all()) == 1


@pytest.mark.parametrize("size", [MAX_BODY_BYTES + 1, 2_600_000])
def test_a_body_over_the_api_cap_is_413(api, card, size):
    """Under Django's 2.5 MiB but far over anything a till sends (the API's own cap)."""
    body = b'{"reason": "' + b"x" * size + b'"}'
    error_of(raw_post(api, f"/api/v1/cards/{card.card_number}/stamp/", body), 413, "request_too_large")
    error_of(raw_post(anonymous(), "/api/v1/auth/token/", body), 413, "request_too_large")
    assert len(card.transactions.all()) == 1


def test_a_body_over_the_upload_limit_is_413_on_the_token_endpoint():
    body = b'{"username": "' + b"x" * TOO_BIG + b'", "password": "x"}'
    error_of(raw_post(anonymous(), "/api/v1/auth/token/", body), 413, "request_too_large")


def test_a_body_over_the_upload_limit_is_413_with_an_idempotency_key(api, card):
    body = b'{"reason": "' + b"x" * TOO_BIG + b'"}'
    response = raw_post(api, f"/api/v1/cards/{card.card_number}/stamp/", body, HTTP_IDEMPOTENCY_KEY="big-body-1")
    error_of(response, 413, "request_too_large")


@pytest.mark.parametrize(
    "body", ["[" * 100_000, "{" * 100_000, '{"a":' * 5_000, "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)]
)
def test_deeply_nested_json_is_400_on_the_token_endpoint(body):
    error = error_of(raw_post(anonymous(), "/api/v1/auth/token/", body), 400, "parse_error")
    assert "nested too deeply" in error["message"] or "JSON parse error" in error["message"]


@pytest.mark.parametrize("action", ACTIONS)
def test_deeply_nested_json_is_400_on_every_mutation(api, card, action):
    path = f"/api/v1/cards/{card.card_number}/{action}/"
    error = error_of(raw_post(api, path, "[" * 100_000), 400, "parse_error")
    assert "nested too deeply" in error["message"]
    nested_value = '{"reason": ' + "[" * 900 + "]" * 900 + "}"
    error_of(raw_post(api, path, nested_value, HTTP_IDEMPOTENCY_KEY=f"deep-{action}"), 400, "parse_error")
    assert len(card.transactions.all()) == 1


def test_json_nested_within_the_limit_is_an_ordinary_validation_error(api, card):
    body = '{"purchase_amount": ' + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "}"
    response = raw_post(api, f"/api/v1/cards/{card.card_number}/earn-points/", body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] in {"invalid_input", "invalid_amount"}


def test_malformed_json_is_400_parse_error(api, card):
    error_of(raw_post(api, f"/api/v1/cards/{card.card_number}/stamp/", "{not json"), 400, "parse_error")
    error_of(raw_post(api, f"/api/v1/cards/{card.card_number}/stamp/", b"\xff\xfe{}"), 400, "parse_error")
