"""Every registered URL answers every HTTP method with a deliberate status, never a 5xx.

The URL patterns are read from Django's resolver (nothing is listed by hand, so a new view is
covered the day it is added). Each path parameter gets a plausible value, real where one exists
(the card's number, QR data and Apple serial, the merchant's slug, the admin object of that
model), so the requests reach the views' own code and not only their 404s. Then every parameter
in turn gets a NUL character and 5,000 characters, which PostgreSQL refuses in a query (run this
file on PostgreSQL too). Anonymous, then as a signed-in staff member (an owner, who also uses the
admin), then as the platform operator.
"""

import json
import re

import pytest
from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern, RoutePattern

from loyalty import services
from tests.factories import RewardFactory, StaffMemberFactory, UserFactory
from tests.wallet import fakes
from tests.wallet.conftest import apple_wallet, wallet_credentials  # noqa: F401 - fixtures used below

pytestmark = pytest.mark.django_db

METHODS = ("GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE")
HOSTILE_METHODS = ("GET", "POST")
DEVICE = "0123456789abcdef0123456789abcdef"
# <name>, <converter:name> of path() routes; (?P<name>...) groups of re_path() patterns.
ROUTE_PARAMETER = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>\w+)>")
REGEX_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>(?:[^()\\]|\\.|\[[^\]]*\])*\)")
ADMIN_MODEL = re.compile(r"^admin/(?P<app>\w+)/(?P<model>\w+)/")


def url_patterns() -> list[tuple[str, list[str]]]:
    """(path template with {name} placeholders, parameter names) for every pattern, in order."""
    found = []

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            piece = _template(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + piece)
            elif isinstance(pattern, URLPattern):
                template = prefix + piece
                found.append((template, re.findall(r"\{(\w+)\}", template)))

    walk(get_resolver().url_patterns, "")
    return found


def _template(pattern: RoutePattern | RegexPattern) -> str:
    if isinstance(pattern, RoutePattern):
        return ROUTE_PARAMETER.sub(lambda m: "{" + m["name"] + "}", str(pattern))
    regex = REGEX_GROUP.sub(lambda m: "{" + m["name"] + "}", str(pattern))
    regex = regex.removeprefix("^").removesuffix("$").removesuffix(r"\Z")
    return regex.replace("\\.", ".").replace("\\-", "-")


@pytest.fixture
def world(apple_wallet, settings, card, store):  # noqa: F811 - the fixture imported above
    settings.LOYALTY_RATE_LIMITS = {}  # thousands of requests in a few seconds: no rate limits here
    owner = StaffMemberFactory(merchant=store.merchant, stores=[store], role="owner")
    RewardFactory(program=card.program)
    services.earn_points(card=card, store=store, staff_user=owner.user, purchase_amount="12.00")
    client = Client()
    path = f"/wallet/apple/v1/devices/{DEVICE}/registrations/{fakes.PASS_TYPE_ID}/{card.apple_serial_number}"
    registered = client.post(
        path,
        data=json.dumps({"pushToken": "ab" * 32}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"ApplePass {card.apple_auth_token}",
    )
    assert registered.status_code == 201
    operator = UserFactory(username="operator", is_staff=True, is_superuser=True)
    return {"owner": owner, "card": card, "store": store, "operator": operator}


def plausible_values(world, template: str) -> dict[str, str]:
    card = world["card"]
    values = {
        "card_number": card.card_number,
        "qr_code_data": card.qr_code_data,
        "serial": card.apple_serial_number,
        "device": DEVICE,
        "pass_type_id": fakes.PASS_TYPE_ID,
        "merchant_slug": card.merchant.slug,
        "program_id": str(card.program_id),
        "pk": str(world["owner"].pk),
        "id": str(world["owner"].user_id),
        "app_label": "loyalty",
        "url": "no-such-page/",
        "path": "no-such-file.png",
        "object_id": str(card.pk),
        "content_type_id": str(ContentType.objects.get_for_model(card).pk),
    }
    if match := ADMIN_MODEL.match(template):
        try:
            model = apps.get_model(match["app"], match["model"])
        except LookupError:
            model = None
        if model is not None:
            first = model._default_manager.order_by("pk").first()
            values["object_id"] = str(first.pk) if first else "1"
    return values


def fill(template: str, values: dict[str, str]) -> str:
    return "/" + re.sub(r"\{(\w+)\}", lambda m: values.get(m[1], "x"), template)


def send(client: Client, method: str, path: str):
    if method in {"POST", "PUT", "PATCH", "DELETE"}:
        return client.generic(method, path, b"{}", content_type="application/json")
    return client.generic(method, path)


def server_errors(client: Client, requests: list[tuple[str, str]]) -> list[str]:
    errors = []
    for method, path in requests:
        response = send(client, method, path)
        if response.status_code >= 500:
            errors.append(f"{method} {path[:120]} -> {response.status_code}")
    return errors


def every_request(world) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(plausible requests, hostile requests); logout paths last, so the session lasts."""
    plausible, hostile = [], []
    for template, names in url_patterns():
        values = plausible_values(world, template)
        plausible += [(method, fill(template, values)) for method in METHODS]
        # Searches and filters (the admin's ?q=, the API's lookup) with the same hostile values.
        for query in ("?q=ab%00cd", "?q=" + "x" * 5000, "?q=%C2%B2&page=%00&passesUpdatedSince=%00"):
            hostile.append(("GET", fill(template, values) + query))
        for name in names:
            for bad in ("ab%00cd", "%00", "x" * 5000):
                path = fill(template, {**values, name: bad})
                hostile += [(method, path) for method in HOSTILE_METHODS]
    plausible.sort(key=lambda request: "logout" in request[1])
    return plausible, hostile


def test_the_walk_covers_the_whole_product(world):
    templates = {template for template, _ in url_patterns()}
    for expected in (
        "api/v1/cards/{card_number}/stamp/",
        "api/v1/docs/",
        "wallet/apple/v1/devices/{device}/registrations/{pass_type_id}/{serial}",
        "card/{qr_code_data}/",
        "join/{merchant_slug}/",
        "pos/",
        "admin/loyalty/loyaltycard/{object_id}/change/",
    ):
        assert expected in templates


def test_no_url_answers_a_server_error_to_anyone(world):
    plausible, hostile = every_request(world)
    anonymous = Client(raise_request_exception=False)
    staff = Client(raise_request_exception=False)
    staff.force_login(world["owner"].user)
    operator = Client(raise_request_exception=False)
    operator.force_login(world["operator"])

    errors = []
    for label, client in (("anonymous", anonymous), ("owner", staff), ("operator", operator)):
        errors += [f"{label}: {error}" for error in server_errors(client, plausible)]
    staff.force_login(world["owner"].user)
    errors += [f"owner: {error}" for error in server_errors(staff, hostile)]
    assert not errors, "\n".join(errors)
