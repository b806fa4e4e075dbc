"""Google Wallet against a loopback fake of the Wallet Objects API and of the token endpoint."""

import google.auth.jwt
import pytest
from django.core.cache import cache

from loyalty import services
from tests.factories import make_card
from tests.wallet import fakes
from tests.wallet.conftest import PUBLIC_BASE_URL
from wallet.google import save_url, sync_card_object
from wallet.google.client import GoogleWalletError, WalletObjectsClient
from wallet.google.resources import class_id, object_body, object_id
from wallet.google.sync import GOOGLE_DOWN_CACHE_KEY
from wallet.links import wallet_links
from wallet.models import GoogleWalletClass

SAVE_PREFIX = "https://pay.google.com/gp/v/save/"


def decode(url: str, credentials) -> dict:
    token = url.removeprefix(SAVE_PREFIX)
    public_key = credentials.path("google-public.pem")
    with open(public_key) as handle:
        return google.auth.jwt.decode(token, certs=handle.read(), audience="google")


def test_save_url_inserts_class_and_object_then_signs_a_short_jwt(google_wallet, wallet_credentials, card):
    url = save_url(card)
    assert url.startswith(SAVE_PREFIX)
    token = url.removeprefix(SAVE_PREFIX)
    assert len(token) < 1800

    claims = decode(url, wallet_credentials)
    assert claims["iss"] == fakes.SERVICE_ACCOUNT_EMAIL
    assert claims["aud"] == "google"
    assert claims["typ"] == "savetowallet"
    assert isinstance(claims["iat"], int)
    assert claims["origins"] == [PUBLIC_BASE_URL]
    assert claims["payload"] == {"loyaltyObjects": [{"id": object_id(card), "classId": class_id(card.program)}]}
    assert object_id(card).startswith(f"{fakes.ISSUER_ID}.")

    # Class and object were inserted over REST before the link was made.
    assert [(r.method, r.path) for r in google_wallet.requests] == [("POST", "loyaltyClass"), ("POST", "loyaltyObject")]
    assert google_wallet.token_requests, "the service account fetched its token from the (fake) token_uri"
    card.refresh_from_db()
    assert card.google_object_id == object_id(card)


def test_second_save_url_makes_no_request(google_wallet, card):
    save_url(card)
    google_wallet.reset()
    card.refresh_from_db()
    assert save_url(card).startswith(SAVE_PREFIX)
    assert google_wallet.requests == []


def test_object_carries_balances_state_account_and_qr(google_wallet, card, store):
    save_url(card)
    services.add_stamp(card=card, store=store, staff_user=None)
    card.refresh_from_db()
    body = object_body(card)
    assert body["state"] == "ACTIVE"
    assert body["accountId"] == card.card_number
    assert body["accountName"] == f"{card.customer.first_name} {card.customer.last_name}"
    assert body["loyaltyPoints"]["balance"] == {"int": card.points_balance}
    assert body["secondaryLoyaltyPoints"]["balance"] == {"int": 1}  # hybrid: stamps
    assert body["barcode"] == {"type": "QR_CODE", "value": card.qr_code_data, "alternateText": card.card_number}


def test_stamps_only_program_counts_stamps_as_points(google_wallet, db):
    card = make_card(kind="stamps")
    body = object_body(card)
    assert body["loyaltyPoints"] == {"label": "Stamps", "balance": {"int": 0}}
    assert "secondaryLoyaltyPoints" not in body


def test_deactivated_or_deleted_card_is_inactive(google_wallet, card):
    save_url(card)
    services.set_cards_active(card_ids=[card.pk], active=False)
    sync_card_object(card.pk)
    stored = google_wallet.resources[("loyaltyObject", object_id(card))]
    assert stored["state"] == "INACTIVE"
    services.set_cards_active(card_ids=[card.pk], active=True)
    services.soft_delete_cards(card_ids=[card.pk])
    sync_card_object(card.pk)
    assert google_wallet.resources[("loyaltyObject", object_id(card))]["state"] == "INACTIVE"


def test_sync_patches_the_object_once(google_wallet, card, store):
    save_url(card)
    google_wallet.reset()
    services.earn_points(card=card, purchase_amount="12.50", store=store, staff_user=None)
    assert sync_card_object(card.pk) is True
    assert [(r.method, r.path) for r in google_wallet.requests] == [("PATCH", f"loyaltyObject/{object_id(card)}")]
    assert google_wallet.requests[0].body["loyaltyPoints"]["balance"] == {"int": 12}


def test_sync_skips_cards_never_offered_to_google(google_wallet, card):
    assert sync_card_object(card.pk) is False
    assert google_wallet.requests == []


def test_patch_404_falls_back_to_insert(google_wallet, card):
    save_url(card)
    del google_wallet.resources[("loyaltyObject", object_id(card))]
    google_wallet.reset()
    sync_card_object(card.pk)
    assert [r.method for r in google_wallet.requests] == ["PATCH", "POST"]
    assert ("loyaltyObject", object_id(card)) in google_wallet.resources


def test_insert_409_means_exists_and_patches(google_wallet, card):
    # The object exists at Google already (a retried insert whose answer was lost).
    google_wallet.resources[("loyaltyObject", object_id(card))] = {"id": object_id(card), "state": "INACTIVE"}
    save_url(card)
    methods = [(r.method, r.path.split("/")[0]) for r in google_wallet.requests]
    assert methods == [("POST", "loyaltyClass"), ("POST", "loyaltyObject"), ("PATCH", "loyaltyObject")]
    assert google_wallet.resources[("loyaltyObject", object_id(card))]["state"] == "ACTIVE"


def test_5xx_and_429_are_retried_with_backoff(google_wallet, card):
    save_url(card)
    google_wallet.reset()
    google_wallet.fail_next(503, 429)
    sync_card_object(card.pk)
    assert [r.method for r in google_wallet.requests] == ["PATCH", "PATCH", "PATCH"]


def test_persistent_5xx_raises(google_wallet, card):
    save_url(card)
    google_wallet.fail_next(500, 500, 500)
    with pytest.raises(GoogleWalletError):
        sync_card_object(card.pk)


def test_4xx_is_not_retried(google_wallet, card):
    google_wallet.fail_next(400)
    with pytest.raises(GoogleWalletError):
        WalletObjectsClient().insert("loyaltyClass", {"id": "x"})
    assert len(google_wallet.requests) == 1


def test_class_is_patched_only_after_a_branding_change(google_wallet, card, store):
    save_url(card)
    program = card.program
    program.background_color = "#123456"
    program.save()
    google_wallet.reset()
    services.add_stamp(card=card, store=store, staff_user=None)
    sync_card_object(card.pk)
    assert [(r.method, r.path.split("/")[0]) for r in google_wallet.requests] == [
        ("PATCH", "loyaltyClass"),
        ("PATCH", "loyaltyObject"),
    ]
    assert google_wallet.resources[("loyaltyClass", class_id(program))]["hexBackgroundColor"] == "#123456"
    assert GoogleWalletClass.objects.get(program=program).program_updated_at == program.updated_at


def test_no_link_when_google_is_down(google_wallet, card):
    google_wallet.fail_next(503)
    assert save_url(card) is None
    card.refresh_from_db()
    assert card.google_object_id == ""


def test_after_google_failed_the_next_first_views_do_not_wait_for_it(google_wallet, card, program):
    google_wallet.fail_next(503)
    assert save_url(card) is None
    asked = len(google_wallet.requests)
    other = make_card(program=program)
    assert save_url(other) is None
    assert len(google_wallet.requests) == asked  # not asked again within the minute
    cache.delete(GOOGLE_DOWN_CACHE_KEY)  # the minute is over
    assert save_url(other).startswith(SAVE_PREFIX)


def test_a_refusal_from_google_does_not_hide_the_button_of_other_cards(google_wallet, card, program):
    google_wallet.fail_next(403)
    assert save_url(card) is None
    assert save_url(make_card(program=program)).startswith(SAVE_PREFIX)


def test_wallet_links_show_google_when_enabled(google_wallet, card):
    links = wallet_links(card)
    assert links.google_save_url.startswith(SAVE_PREFIX)
    assert links.apple_pass_url is None


def test_no_wallet_links_with_nothing_set(card):
    links = wallet_links(card)
    assert links.google_save_url is None and links.apple_pass_url is None


def test_program_logo_is_served_for_the_class(google_wallet, client, card):
    save_url(card)
    uri = google_wallet.resources[("loyaltyClass", class_id(card.program))]["programLogo"]["sourceUri"]["uri"]
    assert uri.startswith(f"{PUBLIC_BASE_URL}/wallet/google/programs/{card.program.pk}/logo.png")
    response = client.get(uri.removeprefix(PUBLIC_BASE_URL))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
