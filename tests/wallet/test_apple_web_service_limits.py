"""The PassKit web service against hostile or broken clients: every answer deliberate, never a 500.

Registrations change only their own row and are capped per card; identifiers and push tokens
have a length and a charset; the log endpoint is off with Apple Wallet, rate limited, capped,
and cannot forge log lines. Run on PostgreSQL too: NUL characters and over-long identifiers are
refused there by the database itself, so they must never reach it.
"""

import json
import logging

import pytest
from django.core.cache import cache
from django.test import Client

from loyalty import services
from tests.factories import ProgramFactory, make_card
from tests.wallet import fakes
from tests.wallet.test_apple_web_service import BASE, DEVICE, PUSH_TOKEN, auth, register, serials
from wallet.apple.registrations import MAX_REGISTRATIONS_PER_CARD
from wallet.models import AppleDeviceRegistration
from wallet.views import MAX_LOG_BODY, one_log_line

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(apple_wallet):
    # Wallet sends no CSRF token; a 500 must come back as a response, not an exception.
    return Client(enforce_csrf_checks=True, raise_request_exception=False)


def registration_path(card, device=DEVICE) -> str:
    return f"{BASE}/devices/{device}/registrations/{fakes.PASS_TYPE_ID}/{card.apple_serial_number}"


def post_log(client, body, **extra):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(f"{BASE}/log", data=data, content_type="application/json", **extra)


# --- registrations -----------------------------------------------------------------------------


def test_registering_a_pass_under_a_foreign_device_id_changes_only_that_registration(client, card):
    """Someone holding their own pass (of any merchant) registers it under a victim's device id:
    the victim's registrations keep their push token."""
    assert register(client, card, device=DEVICE, token="aa" * 32).status_code == 201
    attacker_card = make_card(program=ProgramFactory())  # another merchant's program
    assert register(client, attacker_card, device=DEVICE, token="bb" * 32).status_code == 201

    victim = AppleDeviceRegistration.objects.get(device_library_identifier=DEVICE, card=card)
    assert victim.push_token == "aa" * 32
    mine = AppleDeviceRegistration.objects.get(device_library_identifier=DEVICE, card=attacker_card)
    assert mine.push_token == "bb" * 32
    # Re-registering changes its own row only, too.
    assert register(client, attacker_card, device=DEVICE, token="cc" * 32).status_code == 200
    victim.refresh_from_db()
    assert victim.push_token == "aa" * 32


def test_a_two_megabyte_push_token_is_400_and_nothing_is_stored(client, card):
    response = register(client, card, token="f" * (2 * 1024 * 1024))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_push_token"
    assert not AppleDeviceRegistration.objects.exists()


@pytest.mark.parametrize(
    "token",
    ["f" * 513, "abc def", "abc\ndef", "abc\x00def", "../../3/device/x", "tok%2F", 12345, ["a"], None, ""],
)
def test_a_push_token_too_long_or_not_hex_or_base64_is_400(client, card, token):
    response = register(client, card, token=token)
    assert response.status_code == 400
    assert response.json()["error"]["code"] in {"invalid_push_token", "invalid_input"}
    assert not AppleDeviceRegistration.objects.exists()


@pytest.mark.parametrize("token", ["f" * 64, "f" * 164, "A" * 512, "aGVsbG8rd29ybGQ/Pz8=".replace("?", "/"), "a_b-c"])
def test_push_tokens_of_any_apple_shape_are_kept(client, card, token):
    assert register(client, card, token=token).status_code == 201
    assert AppleDeviceRegistration.objects.get(card=card).push_token == token


@pytest.mark.parametrize("body", ["[" * 100_000, "{" * 5_000, "not json", b"\xff\xfe", "[" * 40 + "]" * 40])
def test_a_registration_body_that_is_not_a_plain_json_object_is_400(client, card, body):
    response = client.post(registration_path(card), data=body, content_type="application/json", **auth(card))
    assert response.status_code == 400
    assert response.json()["error"]["code"] in {"parse_error", "invalid_input"}


def test_a_registration_body_over_the_upload_limit_is_413(client, card, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = register(client, card, token="f" * 2000)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


def test_a_card_keeps_at_most_twenty_devices_the_least_recent_is_evicted(client, card):
    for number in range(MAX_REGISTRATIONS_PER_CARD):
        assert register(client, card, device=f"device{number:02d}").status_code == 201
    # device00 re-registers (a new push token): now device01 is the least recent.
    assert register(client, card, device="device00", token="0123abcd").status_code == 200
    assert register(client, card, device="newphone").status_code == 201

    devices = set(AppleDeviceRegistration.objects.filter(card=card).values_list("device_library_identifier", flat=True))
    assert len(devices) == MAX_REGISTRATIONS_PER_CARD
    assert "newphone" in devices and "device00" in devices
    assert "device01" not in devices


# --- identifiers in the path ------------------------------------------------------------------


@pytest.mark.parametrize(
    "device",
    ["d" * 256, "d" * 5000, "dev%00ice", "%00", "dev%0Aice", "dev%20ice", "d%C3%A9vice"],
)
def test_a_device_id_too_long_or_with_odd_characters_is_404_on_every_endpoint(client, card, device):
    path = registration_path(card, device=device)
    assert (
        client.post(
            path, data=json.dumps({"pushToken": PUSH_TOKEN}), content_type="application/json", **auth(card)
        ).status_code
        == 404
    )
    assert client.delete(path, **auth(card)).status_code == 404
    assert client.get(f"{BASE}/devices/{device}/registrations/{fakes.PASS_TYPE_ID}").status_code == 404
    assert not AppleDeviceRegistration.objects.exists()


def test_a_255_character_device_id_registers(client, card):
    device = "d" * 255
    assert register(client, card, device=device).status_code == 201
    assert serials(client, device=device).json()["serialNumbers"] == [card.apple_serial_number]


@pytest.mark.parametrize(
    "path",
    [
        f"{BASE}/passes/{fakes.PASS_TYPE_ID}/ser%00ial",
        f"{BASE}/passes/pass%00type/serial",
        f"{BASE}/passes/{fakes.PASS_TYPE_ID}/" + "s" * 5000,
        f"{BASE}/devices/{DEVICE}/registrations/pass%00type",
        f"{BASE}/devices/{DEVICE}/registrations/{fakes.PASS_TYPE_ID}/ser%00ial",
        "/wallet/apple/card/qr%00code.pkpass",
        "/wallet/apple/card/" + "q" * 5000 + ".pkpass",
        "/wallet/google/programs/99999999999999999999999/logo.png",
    ],
)
def test_nul_and_overlong_path_values_are_404(client, card, path):
    assert client.get(path, **auth(card)).status_code == 404
    # POST and DELETE: 404, or 405 / 403 (CSRF) where the path only serves GET.
    for method in (client.post, client.delete):
        assert method(path, **auth(card)).status_code in {403, 404, 405}


@pytest.mark.parametrize(
    "since",
    ["%C2%B2", "%C2%B2%C2%B2", "9" * 4300, "1" * 21, "-5", "+5", "1e9", "%00", "%EF%BC%91", "abc", ""],
)
def test_a_passes_updated_since_that_is_not_our_tag_lists_every_pass(client, card, store, since):
    """Apple's semantics: a tag we did not give is no tag, so the device gets every pass it holds."""
    register(client, card)
    services.add_stamp(card=card, store=store, staff_user=None)
    response = serials(client, since=since)
    assert response.status_code == 200
    assert response.json()["serialNumbers"] == [card.apple_serial_number]


# --- the log endpoint ---------------------------------------------------------------------------


def test_the_log_endpoint_is_404_when_apple_wallet_is_off(client, settings, caplog):
    settings.LOYALTY_APPLE_PASS_TYPE_ID = None
    with caplog.at_level(logging.WARNING, logger="wallet.views"):
        assert post_log(client, {"logs": ["hello"]}).status_code == 404
    assert "hello" not in caplog.text


def test_log_messages_cannot_forge_log_lines(client, caplog):
    forged = "real problem\n2026-01-01 00:00:00,000 ERROR django.security: forged\r\x1b[2J\u2028end"
    with caplog.at_level(logging.WARNING, logger="wallet.views"):
        assert post_log(client, {"logs": [forged, {"nested": "a\nb"}]}).status_code == 200
    messages = [record.getMessage() for record in caplog.records if record.name == "wallet.views"]
    assert len(messages) == 2
    for message in messages:
        assert "\n" not in message and "\r" not in message and "\x1b" not in message and "\u2028" not in message
    assert "real problem\\n2026-01-01" in messages[0]
    assert "\\r\\x1b[2J\\u2028end" in messages[0]


def test_log_messages_are_capped():
    assert len(one_log_line("x" * 100_000)) <= 1000 + len("[…]")
    assert len(one_log_line("\n" * 5_000)) <= 1000 + len("[…]")
    assert one_log_line("plain text") == "plain text"


def test_the_log_endpoint_is_rate_limited_per_client_address(client, settings):
    settings.LOYALTY_APPLE_LOG_RATE_LIMIT = "3/m"
    cache.clear()
    statuses = [post_log(client, {"logs": ["x"]}).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    other = post_log(client, {"logs": ["x"]}, REMOTE_ADDR="198.51.100.7")
    assert other.status_code == 200


def test_the_log_limiter_fails_open_when_the_cache_is_down(client, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr("wallet.views.is_ratelimited", broken)
    with caplog.at_level(logging.WARNING, logger="wallet.views"):
        assert post_log(client, {"logs": ["x"]}).status_code == 200
    assert "rate limiter unavailable" in caplog.text


def test_a_log_body_over_its_cap_is_413_and_broken_bodies_are_400(client, caplog):
    big = {"logs": ["x" * (MAX_LOG_BODY + 1)]}
    with caplog.at_level(logging.WARNING, logger="wallet.views"):
        response = post_log(client, big)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
    assert "Apple Wallet log" not in caplog.text
    assert post_log(client, "[" * 60_000).status_code == 400
    assert post_log(client, "not json").status_code == 400
    assert post_log(client, {"logs": "not a list"}).status_code == 400
