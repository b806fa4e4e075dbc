"""The OpenAPI document, the offline docs page, and schemathesis against the live server."""

import re

import pytest
import schemathesis
from django.contrib.staticfiles import finders
from hypothesis import HealthCheck, given, settings
from rest_framework.test import APIClient
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from merchants.tokens import issue_token
from tests.factories import ProgramFactory, RewardFactory, StaffMemberFactory, StoreFactory, make_card

EXPECTED_OPERATIONS = {
    ("post", "/api/v1/auth/token/"),
    ("delete", "/api/v1/auth/token/"),
    ("get", "/api/v1/cards/lookup/"),
    ("get", "/api/v1/cards/{card_number}/"),
    ("post", "/api/v1/cards/{card_number}/stamp/"),
    ("post", "/api/v1/cards/{card_number}/redeem-stamps/"),
    ("post", "/api/v1/cards/{card_number}/earn-points/"),
    ("post", "/api/v1/cards/{card_number}/redeem-points/"),
    ("post", "/api/v1/cards/{card_number}/void-points/"),
    ("post", "/api/v1/cards/{card_number}/void-stamp/"),
    ("post", "/api/v1/cards/{card_number}/adjust/"),
    ("get", "/api/v1/cards/{card_number}/transactions/"),
    ("post", "/api/v1/staff/pin/verify/"),
    ("post", "/api/v1/staff/{id}/pin/unlock/"),
    ("get", "/api/v1/staff/"),
    ("get", "/api/v1/staff/me/"),
    ("get", "/api/v1/staff/{id}/tokens/"),
    ("post", "/api/v1/staff/{id}/tokens/revoke/"),
    ("get", "/api/v1/customers/{id}/export/"),
    ("post", "/api/v1/customers/{id}/erase/"),
    ("get", "/api/v1/insights/summary/"),
    ("get", "/api/v1/insights/liability.csv"),
    ("get", "/api/v1/exports/members.csv"),
    ("get", "/api/v1/exports/ledger.csv"),
    ("get", "/api/v1/alerts/"),
    ("post", "/api/v1/alerts/{id}/acknowledge/"),
}


@pytest.fixture
def openapi(db) -> dict:
    response = APIClient().get("/api/v1/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def operations(document: dict):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield method, path, operation


def test_schema_describes_every_endpoint(openapi):
    assert openapi["openapi"].startswith("3.")
    assert {(method, path) for method, path, _ in operations(openapi)} == EXPECTED_OPERATIONS


def test_schema_documents_bodies_and_errors(openapi):
    error_ref = "#/components/schemas/ErrorOutput"
    for method, path, operation in operations(openapi):
        responses = operation["responses"]
        assert "200" in responses, (method, path)
        errors = [code for code in responses if code.startswith("4")]
        assert errors, (method, path)
        for code in errors:
            assert responses[code]["content"]["application/json"]["schema"]["$ref"] == error_ref
            assert responses[code]["description"], (method, path, code)
        if path != "/api/v1/auth/token/":
            assert "401" in responses and "403" in responses, (method, path)
        if method == "post" and "{card_number}" in path:
            assert "requestBody" in operation, path
            assert {"400", "404", "409", "423", "429"} <= set(responses), path
            headers = [p["name"] for p in operation["parameters"] if p["in"] == "header"]
            assert headers == ["Idempotency-Key"], path
    error = openapi["components"]["schemas"]["ErrorInner"]
    assert set(error["required"]) == {"code", "message", "details"}
    earn = openapi["components"]["schemas"]["EarnPointsInputRequest"]
    assert earn["required"] == ["purchase_amount"]
    assert openapi["components"]["securitySchemes"]["tokenAuth"]["type"] == "apiKey"


def test_docs_are_served_without_a_cdn(db):
    response = APIClient().get("/api/v1/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources and all(not source.startswith(("http:", "https:", "//")) for source in sources), sources
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    # No inline script (Content-Security-Policy script-src 'self'): Swagger UI's start-up comes from ?script.
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert "/api/v1/docs/?script=" in html
    script = APIClient().get("/api/v1/docs/?script=")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "/api/v1/schema/" in script.content.decode()


# --- schemathesis against the live server ---------------------------------------------------------------
# Each operation gets Hypothesis-generated requests, valid and invalid, from the schema the live
# server publishes, authenticated with a manager's token; every answer is checked against the
# schema (status code, content type, headers, body). Bounded: a few examples per operation and mode.

# positive_data_acceptance is left out on purpose: schema-valid input is refused with a 400 when a
# rule the schema cannot express says no (a store code you do not work at, a reward id that does
# not exist, reward_id *or* points, a reason of spaces). Those refusals have their own tests.
MAX_EXAMPLES = 10


@pytest.fixture
def live_api(live_server, settings):
    """A merchant with data, a manager's token, and the schema loaded from the live server."""
    # The fuzzer sends hundreds of requests a minute; the limits have their own tests.
    settings.LOYALTY_RATE_LIMITS = {name: "100000/m" for name in settings.LOYALTY_RATE_LIMITS}
    settings.LOYALTY_LOGIN_LIMIT_PER_USERNAME = settings.LOYALTY_LOGIN_LIMIT_PER_ADDRESS = "100000/m"
    program = ProgramFactory(stamps_target=3)
    store = StoreFactory(merchant=program.merchant, code="main")
    manager = StaffMemberFactory(merchant=program.merchant, stores=[store], role="manager")
    cashier = StaffMemberFactory(merchant=program.merchant, stores=[store])
    card = make_card(program=program, store=store)
    RewardFactory(program=program, points_cost=5)
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/v1/schema/?format=json")
    return {
        "schema": schema,
        "headers": {"Authorization": f"Token {issue_token(user=manager.user)[0]}"},
        "path_parameters": {"card_number": card.card_number, "id": cashier.pk},
    }


@pytest.mark.parametrize("method,path", sorted(EXPECTED_OPERATIONS), ids=lambda value: value)
def test_api_conforms_to_its_schema(live_api, method, path):
    """No 500, and every answer is what the schema says it is."""
    operation = live_api["schema"][path][method]
    fixed = {name: value for name, value in live_api["path_parameters"].items() if "{" + name + "}" in path}
    has_input = (
        method == "post"
        and not path.endswith(("/unlock/", "/acknowledge/"))
        or path.endswith(("/lookup/", "/transactions/", "/alerts/"))
    )
    modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE) if has_input else (GenerationMode.POSITIVE,)
    for mode in modes:

        @given(case=operation.as_strategy(generation_mode=mode, path_parameters=fixed or None))
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case):
            case.call_and_validate(headers=live_api["headers"], excluded_checks=[positive_data_acceptance])

        check()
