"""Apple's PassKit web service, driven the way Wallet on a phone drives it."""

import datetime
import io
import json
import zipfile

import pytest
from django.utils import timezone
from django.utils.http import http_date

from loyalty import services
from loyalty.models import LoyaltyCard
from tests.factories import make_card
from tests.wallet import fakes
from wallet.apple.tags import parse_update_tag, update_tag
from wallet.models import AppleDeviceRegistration

BASE = "/wallet/apple/v1"
DEVICE = "a1b2c3d4e5f6device"
# Push tokens are opaque and long: longer than the varchar(150) that once overflowed.
PUSH_TOKEN = "f" * 164


def auth(card: LoyaltyCard) -> dict:
    return {"HTTP_AUTHORIZATION": f"ApplePass {card.apple_auth_token}"}


def register(client, card, device=DEVICE, token=PUSH_TOKEN, headers=None):
    return client.post(
        f"{BASE}/devices/{device}/registrations/{fakes.PASS_TYPE_ID}/{card.apple_serial_number}",
        data=json.dumps({"pushToken": token}),
        content_type="application/json",
        **(auth(card) if headers is None else headers),
    )


def serials(client, device=DEVICE, since=None):
    query = f"?passesUpdatedSince={since}" if since is not None else ""
    return client.get(f"{BASE}/devices/{device}/registrations/{fakes.PASS_TYPE_ID}{query}")


def get_pass(client, card, **headers):
    return client.get(f"{BASE}/passes/{fakes.PASS_TYPE_ID}/{card.apple_serial_number}", **{**auth(card), **headers})


def age(card: LoyaltyCard, seconds: int) -> LoyaltyCard:
    """Pretend the card last changed ``seconds`` ago."""
    LoyaltyCard.objects.filter(pk=card.pk).update(updated_at=timezone.now() - datetime.timedelta(seconds=seconds))
    card.refresh_from_db()
    return card


@pytest.fixture
def client(client, apple_wallet):
    # Wallet sends no CSRF token: the web service must not need one.
    client.handler.enforce_csrf_checks = True
    return client


def test_whole_device_lifecycle(client, card, store):
    # Register: 201 the first time, 200 after; re-registering stores the new push token.
    assert register(client, card).status_code == 201
    assert register(client, card, token="new-" + PUSH_TOKEN).status_code == 200
    registration = AppleDeviceRegistration.objects.get(device_library_identifier=DEVICE, card=card)
    assert registration.push_token == "new-" + PUSH_TOKEN

    # Serial numbers without a tag: every pass of the device, and a string tag.
    response = serials(client)
    assert response.status_code == 200
    body = response.json()
    assert body["serialNumbers"] == [card.apple_serial_number]
    assert isinstance(body["lastUpdated"], str)
    tag = body["lastUpdated"]

    # Nothing changed since the tag: 204.
    assert serials(client, since=tag).status_code == 204

    # A stamp changes the card: the tag now lists it again, with a newer tag.
    services.add_stamp(card=card, store=store, staff_user=None)
    response = serials(client, since=tag)
    assert response.status_code == 200
    assert response.json()["serialNumbers"] == [card.apple_serial_number]
    assert int(response.json()["lastUpdated"]) > int(tag)

    # The pass: 200 with Last-Modified, then 304 for the same version.
    card = age(card, 120)
    response = get_pass(client, card)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.apple.pkpass"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert json.loads(archive.read("pass.json"))["storeCard"]
    last_modified = response["Last-Modified"]
    assert get_pass(client, card, HTTP_IF_MODIFIED_SINCE=last_modified).status_code == 304
    services.add_stamp(card=card, store=store, staff_user=None)
    assert get_pass(client, card, HTTP_IF_MODIFIED_SINCE=last_modified).status_code == 200

    # Log: 200.
    response = client.post(
        f"{BASE}/log", data=json.dumps({"logs": ["Invalid data error"]}), content_type="application/json"
    )
    assert response.status_code == 200

    # Unregister: 200, and the device has no pass left.
    response = client.delete(
        f"{BASE}/devices/{DEVICE}/registrations/{fakes.PASS_TYPE_ID}/{card.apple_serial_number}", **auth(card)
    )
    assert response.status_code == 200
    assert not AppleDeviceRegistration.objects.filter(card=card).exists()
    assert serials(client).status_code == 204


def test_wrong_or_missing_token_is_401(client, card):
    other = make_card(program=card.program)
    wrong = {"HTTP_AUTHORIZATION": f"ApplePass {other.apple_auth_token}"}
    assert register(client, card, headers=wrong).status_code == 401
    assert register(client, card, headers={}).status_code == 401
    assert register(client, card, headers={"HTTP_AUTHORIZATION": card.apple_auth_token}).status_code == 401
    assert not AppleDeviceRegistration.objects.exists()

    assert register(client, card).status_code == 201
    path = f"{BASE}/devices/{DEVICE}/registrations/{fakes.PASS_TYPE_ID}/{card.apple_serial_number}"
    assert client.delete(path, **wrong).status_code == 401
    assert AppleDeviceRegistration.objects.filter(card=card).exists()

    pass_path = f"{BASE}/passes/{fakes.PASS_TYPE_ID}/{card.apple_serial_number}"
    assert client.get(pass_path, **wrong).status_code == 401
    assert client.get(pass_path).status_code == 401
    assert client.get(f"{BASE}/passes/{fakes.PASS_TYPE_ID}/unknown-serial", **auth(card)).status_code == 401


def test_unknown_pass_type_is_404(client, card):
    response = client.post(
        f"{BASE}/devices/{DEVICE}/registrations/pass.other.type/{card.apple_serial_number}",
        data=json.dumps({"pushToken": PUSH_TOKEN}),
        content_type="application/json",
        **auth(card),
    )
    assert response.status_code == 404


def test_register_without_push_token_is_400(client, card):
    response = client.post(
        f"{BASE}/devices/{DEVICE}/registrations/{fakes.PASS_TYPE_ID}/{card.apple_serial_number}",
        data="{}",
        content_type="application/json",
        **auth(card),
    )
    assert response.status_code == 400


def test_one_device_several_passes(client, card, store):
    second = make_card(program=card.program)
    assert register(client, card).status_code == 201
    assert register(client, second).status_code == 201
    # The device's token changes: Wallet re-registers each pass, and each registration changes only itself.
    assert register(client, second, token="rotated-token").status_code == 200
    tokens = dict(AppleDeviceRegistration.objects.values_list("card_id", "push_token"))
    assert tokens == {card.pk: PUSH_TOKEN, second.pk: "rotated-token"}
    assert register(client, card, token="rotated-token").status_code == 200
    assert set(AppleDeviceRegistration.objects.values_list("push_token", flat=True)) == {"rotated-token"}

    tag = serials(client).json()["lastUpdated"]
    assert sorted(serials(client).json()["serialNumbers"]) == sorted(
        [card.apple_serial_number, second.apple_serial_number]
    )
    # Both change after the tag: both are listed, not only the newest.
    services.add_stamp(card=card, store=store, staff_user=None)
    services.add_stamp(card=second, store=store, staff_user=None)
    assert sorted(serials(client, since=tag).json()["serialNumbers"]) == sorted(
        [card.apple_serial_number, second.apple_serial_number]
    )


def test_unknown_tag_lists_every_pass(client, card):
    register(client, card)
    assert serials(client, since="not-a-tag").json()["serialNumbers"] == [card.apple_serial_number]


def test_tag_is_timezone_independent():
    paris = datetime.datetime(2026, 10, 25, 2, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    utc = paris.astimezone(datetime.UTC)
    assert update_tag(paris) == update_tag(utc)
    assert parse_update_tag(update_tag(paris)) == utc
    with pytest.raises(ValueError):
        update_tag(datetime.datetime(2026, 1, 1))


def test_a_change_within_the_served_second_is_never_hidden(client, card, store):
    """Last-Modified has whole seconds: a version served during its own second is dated earlier."""
    response = get_pass(client, card)
    assert response.status_code == 200
    services.add_stamp(card=card, store=store, staff_user=None)  # very likely the same second
    assert get_pass(client, card, HTTP_IF_MODIFIED_SINCE=response["Last-Modified"]).status_code == 200


def test_if_modified_since_before_the_change_gets_the_pass(client, card):
    card = age(card, 120)
    earlier = http_date(card.updated_at.timestamp() - 60)
    assert get_pass(client, card, HTTP_IF_MODIFIED_SINCE=earlier).status_code == 200


def test_web_service_is_404_when_apple_wallet_is_off(client, card, settings):
    settings.LOYALTY_APPLE_PASS_TYPE_ID = None
    assert register(client, card).status_code == 404
    assert serials(client).status_code == 404
