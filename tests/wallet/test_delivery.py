"""A balance change reaches both wallets: outbox -> delivery -> Google patch + APNs push (loopback fakes)."""

import datetime
import json
import threading

import pytest
from django.utils import timezone

from loyalty import services
from tests.factories import StoreFactory, make_card
from tests.support import postgres_only, run_concurrently
from tests.wallet import fakes
from wallet import delivery
from wallet.apple import push_card_passes
from wallet.apple.push import APNsDeliveryError
from wallet.google import save_url
from wallet.google.resources import object_id
from wallet.models import AppleDeviceRegistration, WalletUpdate

TOKEN = "a" * 164


def register_device(card, device="device-1", token=TOKEN):
    return AppleDeviceRegistration.objects.create(device_library_identifier=device, card=card, push_token=token)


def pending(card) -> WalletUpdate | None:
    return WalletUpdate.objects.filter(card=card, status=WalletUpdate.Status.PENDING).first()


@pytest.fixture
def wallets(google_wallet, apns):
    return google_wallet, apns


@pytest.fixture
def saved_card(wallets, card):
    """A card the customer added to both wallets; its issue-time update already delivered."""
    save_url(card)
    register_device(card)
    assert delivery.deliver_pending(card.pk)
    google, apns = wallets
    google.reset()
    apns.requests.clear()
    card.refresh_from_db()
    return card


def test_a_stamp_leads_to_one_patch_and_one_push(wallets, saved_card, store):
    google, apns = wallets
    services.add_stamp(card=saved_card, store=store, staff_user=None)
    update = pending(saved_card)
    assert update is not None

    assert delivery.deliver_pending(saved_card.pk) is True

    assert [(r.method, r.path) for r in google.requests] == [("PATCH", f"loyaltyObject/{object_id(saved_card)}")]
    assert google.requests[0].body["secondaryLoyaltyPoints"]["balance"] == {"int": 1}
    pushes = apns.pushes()
    assert len(pushes) == 1
    push = pushes[0]
    assert push["method"] == "POST"
    assert push["path"] == f"/3/device/{TOKEN}"
    assert push["topic"] == fakes.PASS_TYPE_ID
    assert json.loads(push["body"]) == {}
    assert push["client_uid"] == fakes.PASS_TYPE_ID  # authenticated with the pass certificate
    update.refresh_from_db()
    assert update.status == WalletUpdate.Status.DELIVERED
    assert AppleDeviceRegistration.objects.get(card=saved_card).last_pushed_at is not None


def test_several_changes_coalesce_into_one_delivery(wallets, saved_card, store):
    google, apns = wallets
    services.add_stamp(card=saved_card, store=store, staff_user=None)
    services.earn_points(card=saved_card, purchase_amount="5.00", store=store, staff_user=None)
    assert WalletUpdate.objects.filter(card=saved_card, status="pending").count() == 1
    assert delivery.deliver_pending(saved_card.pk)
    assert len(google.requests) == 1
    assert len(apns.pushes()) == 1
    assert google.requests[0].body["loyaltyPoints"]["balance"] == {"int": 5}


def test_apns_5xx_is_retried_with_backoff(wallets, saved_card, store):
    google, apns = wallets
    apns.answer(TOKEN, 503)
    services.add_stamp(card=saved_card, store=store, staff_user=None)

    assert delivery.deliver_pending(saved_card.pk) is False
    update = pending(saved_card)
    assert update.attempts == 1
    assert update.next_attempt_at > timezone.now()
    assert "503" in update.last_error
    # Not due yet: nothing is tried.
    assert delivery.deliver_pending(saved_card.pk) is False
    assert len(apns.pushes()) == 1

    later = update.next_attempt_at + datetime.timedelta(seconds=1)
    assert delivery.deliver_pending(saved_card.pk, now=later) is True
    assert [p["status"] for p in apns.pushes()] == [503, 200]
    update.refresh_from_db()
    assert update.status == WalletUpdate.Status.DELIVERED


def test_google_5xx_is_retried_and_apple_is_not_held_back(wallets, saved_card, store):
    google, apns = wallets
    google.fail_next(500, 500, 500)
    services.add_stamp(card=saved_card, store=store, staff_user=None)

    assert delivery.deliver_pending(saved_card.pk) is False
    assert len(apns.pushes()) == 1, "Apple devices got their push although Google was down"
    update = pending(saved_card)
    assert "Google" in update.last_error

    assert delivery.deliver_pending(saved_card.pk, now=update.next_attempt_at) is True
    assert google.requests[-1].method == "PATCH"
    assert google.resources[("loyaltyObject", object_id(saved_card))]["secondaryLoyaltyPoints"]["balance"] == {"int": 1}


def test_410_removes_the_registrations_of_that_token(apns, db):
    first = make_card()
    second = make_card(program=first.program)
    register_device(first, token="gone")
    register_device(second, token="gone")
    keep = register_device(first, device="device-2", token="alive")
    apns.answer("gone", 410)

    assert push_card_passes(first.pk) == 1

    assert list(AppleDeviceRegistration.objects.all()) == [keep]
    assert sorted(p["status"] for p in apns.pushes()) == [200, 410]


def test_one_push_per_token_when_devices_share_one(apns, card):
    register_device(card, device="device-1", token="same")
    register_device(card, device="device-2", token="same")
    assert push_card_passes(card.pk) == 1
    assert len(apns.pushes()) == 1


def test_429_raises_for_backoff(apns, card):
    register_device(card)
    apns.answer(TOKEN, 429)
    with pytest.raises(APNsDeliveryError):
        push_card_passes(card.pk)
    assert AppleDeviceRegistration.objects.filter(card=card).exists()


def test_unreachable_apns_raises(apple_wallet, settings, card):
    settings.LOYALTY_APPLE_APNS_URL = "https://127.0.0.1:9"
    register_device(card)
    with pytest.raises(APNsDeliveryError):
        push_card_passes(card.pk)


def test_apns_server_must_be_trusted(apns, card, monkeypatch):
    # Without the fake's CA in the trust store, the TLS handshake fails: the client verifies the server.
    monkeypatch.setenv("SSL_CERT_FILE", "/nonexistent-ca.pem")
    register_device(card)
    with pytest.raises(APNsDeliveryError):
        push_card_passes(card.pk)
    assert apns.pushes() == []


def test_no_registrations_no_connection(apple_wallet, settings, card):
    settings.LOYALTY_APPLE_APNS_URL = "https://127.0.0.1:9"
    assert push_card_passes(card.pk) == 0


def test_delivery_with_no_wallet_switched_on_just_marks_delivered(card):
    assert delivery.deliver_pending(card.pk) is True
    assert WalletUpdate.objects.get(card=card).status == WalletUpdate.Status.DELIVERED


def test_a_change_during_delivery_is_delivered_next(wallets, saved_card, store, monkeypatch):
    """A balance change committed while the pushes run coalesces into the row being delivered: it stays pending."""
    import wallet.apple

    google, apns = wallets
    real_push = wallet.apple.push_card_passes
    changed = []

    def push_then_a_cashier_earns(card_id):
        result = real_push(card_id)
        if not changed:
            changed.append(services.earn_points(card=saved_card, purchase_amount="7.00", store=store, staff_user=None))
        return result

    monkeypatch.setattr(wallet.apple, "push_card_passes", push_then_a_cashier_earns)
    services.add_stamp(card=saved_card, store=store, staff_user=None)

    assert delivery.deliver_pending(saved_card.pk) is True
    assert pending(saved_card) is not None, "the change made during the push is not marked delivered"
    assert delivery.deliver_pending(saved_card.pk) is True
    assert pending(saved_card) is None
    assert google.requests[-1].body["loyaltyPoints"]["balance"] == {"int": 7}
    assert len(apns.pushes()) == 2


def test_a_stamp_reaches_both_wallets_after_commit(wallets, saved_card, store, django_capture_on_commit_callbacks):
    """The whole path: service -> outbox row -> on commit -> Celery task (eager in tests) -> delivery."""
    google, apns = wallets
    with django_capture_on_commit_callbacks(execute=True):
        services.add_stamp(card=saved_card, store=store, staff_user=None)
    assert [r.method for r in google.requests] == ["PATCH"]
    assert len(apns.pushes()) == 1
    assert pending(saved_card) is None


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_stamp_during_delivery_neither_waits_nor_gets_lost(monkeypatch):
    """Real concurrency: the POS stamps on its own connection while the delivery is mid-push."""
    import wallet.apple
    import wallet.outbox

    card = make_card()
    store = StoreFactory(merchant=card.merchant)
    delivery.deliver_pending(card.pk)
    pushing, stamped = threading.Event(), threading.Event()
    monkeypatch.setattr(wallet.delivery, "is_apple_wallet_enabled", lambda: True)
    # Commits are real here: keep the (eager) Celery nudge out, this test drives the delivery itself.
    monkeypatch.setattr(wallet.outbox, "_nudge_worker", lambda card_ids: None)

    def slow_push(card_id):
        pushing.set()
        assert stamped.wait(timeout=20), "the stamp waited for the delivery"
        return 1

    monkeypatch.setattr(wallet.apple, "push_card_passes", slow_push)
    services.add_stamp(card=card, store=store, staff_user=None)

    def stamp_while_pushing():
        assert pushing.wait(timeout=20)
        # Were the stamp to wait for the delivery's lock, slow_push would never see it.
        services.add_stamp(card=card, store=store, staff_user=None)
        stamped.set()

    delivered, _ = run_concurrently([lambda: delivery.deliver_pending(card.pk), stamp_while_pushing])
    assert delivered is True
    assert WalletUpdate.objects.filter(card=card, status=WalletUpdate.Status.PENDING).count() == 1


def test_der_certificate_and_encrypted_key_work_for_apns(apns, apple_wallet, settings, card):
    from cryptography.hazmat.primitives import serialization

    settings.LOYALTY_APPLE_CERT_PATH = apple_wallet.write(
        "pass-cert.der", apple_wallet.pass_cert.public_bytes(serialization.Encoding.DER)
    )
    settings.LOYALTY_APPLE_KEY_PATH = apple_wallet.write(
        "pass-key-encrypted.pem", fakes.key_pem(apple_wallet.pass_key, b"s3cret")
    )
    settings.LOYALTY_APPLE_KEY_PASSWORD = "s3cret"
    register_device(card)
    assert push_card_passes(card.pk) == 1
    assert apns.pushes()[0]["client_uid"] == fakes.PASS_TYPE_ID
