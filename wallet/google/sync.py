"""Keeping a card's Google Wallet object in step, and the card page's "Save to Google Wallet" link."""

import logging
import time

import google.auth.jwt
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from loyalty.models import LoyaltyCard, LoyaltyProgram
from wallet.credentials import CredentialError
from wallet.google import notify, resources
from wallet.google.client import GoogleWalletError, WalletObjectsClient, service_account_credentials
from wallet.models import GoogleWalletClass
from wallet.notices import card_notices

logger = logging.getLogger(__name__)

SAVE_URL_PREFIX = "https://pay.google.com/gp/v/save/"
# The card page waits on Google at most once per card (the first time); no sleeping retries there.
PAGE_RETRY_DELAYS: tuple[float, ...] = ()
PAGE_TIMEOUT_SECONDS = 5.0
# After Google failed to answer a card page, the next minute of first views shows no button at
# once instead of each waiting for Google again (shared by every process through the cache).
GOOGLE_DOWN_CACHE_KEY = "wallet:google-unreachable"
GOOGLE_DOWN_SECONDS = 60
# The card page makes a new link on every view; one left open in a tab still works for a week.
SAVE_JWT_LIFETIME_SECONDS = 7 * 24 * 3600


def ensure_class(program: LoyaltyProgram, client: WalletObjectsClient) -> str:
    """Insert the program's class, or patch it when the program changed since; returns its id."""
    class_id = resources.class_id(program)
    state = GoogleWalletClass.objects.filter(program=program).first()
    if state and state.class_id == class_id and state.program_updated_at == program.updated_at:
        return class_id
    body = resources.class_body(program)
    if state and state.class_id == class_id:
        client.patch_or_insert("loyaltyClass", body)
    else:
        client.insert_or_patch("loyaltyClass", body)
    values = {"class_id": class_id, "program_updated_at": program.updated_at, "synced_at": timezone.now()}
    try:
        with transaction.atomic():
            GoogleWalletClass.objects.update_or_create(program=program, defaults=values)
    except IntegrityError:  # another process recorded it at the same moment
        GoogleWalletClass.objects.filter(program=program).update(**values)
    return class_id


def ensure_card_object(card: LoyaltyCard, client: WalletObjectsClient) -> tuple[str, str]:
    """Make sure the class and the card's object exist at Google; returns (object id, class id)."""
    class_id = ensure_class(card.program, client)
    object_id = resources.object_id(card)
    if card.google_object_id != object_id:
        shown = card_notices(card)
        client.insert_or_patch("loyaltyObject", resources.object_body(card, notices=shown))
        # Not a balance: a plain update, without touching updated_at (the pass tag). What the new
        # object shows already is not announced again by the next update.
        state = {
            "announced": [notice.id for notice in shown],
            "notified": notify.recent_notifications(card, timezone.now()),
        }
        LoyaltyCard.objects.filter(pk=card.pk).update(google_object_id=object_id, google_notices=state)
        card.google_object_id = object_id
        card.google_notices = state
    return object_id, class_id


def sync_card_object(card_id: int) -> bool:
    """Patch the card's object with its current balances and state (one request).

    Cards never offered to Google Wallet (no object id yet) need nothing: their object is
    inserted with the current values when the card page makes the Save link. Returns
    whether the object was updated.
    """
    card = LoyaltyCard.objects.select_related("program__merchant", "customer").get(pk=card_id)
    if not card.google_object_id:
        return False
    client = WalletObjectsClient()
    ensure_class(card.program, client)
    shown = card_notices(card)
    plan = notify.plan(card, shown, timezone.now())
    body = resources.object_body(card, notices=shown, notify_ids=plan.notify_ids)
    if plan.notify:
        # A new notice (a reward ready, points about to expire), within Google's 3 a day.
        body["notifyPreference"] = "NOTIFY_ON_UPDATE"
    client.patch_or_insert("loyaltyObject", body)
    # Plain column updates: neither is on the pass, so the pass tag (updated_at) stays.
    LoyaltyCard.objects.filter(pk=card.pk).update(google_object_id=body["id"], google_notices=plan.state)
    return True


def save_jwt(object_id: str, class_id: str) -> str:
    """The Save JWT: only ids in the payload (class and object exist already), RS256 with the key."""
    credentials = service_account_credentials()
    now = int(time.time())
    claims = {
        "iss": credentials.service_account_email,
        "aud": "google",
        "typ": "savetowallet",
        "iat": now,
        "exp": now + SAVE_JWT_LIFETIME_SECONDS,
        "origins": [settings.LOYALTY_PUBLIC_BASE_URL],
        "payload": {"loyaltyObjects": [{"id": object_id, "classId": class_id}]},
    }
    return google.auth.jwt.encode(credentials.signer, claims).decode()


def save_url(card: LoyaltyCard) -> str | None:
    """``https://pay.google.com/gp/v/save/<jwt>``, or None when Google cannot be reached (no button then)."""
    try:
        if card.google_object_id == resources.object_id(card) and _class_is_current(card.program):
            object_id, class_id = card.google_object_id, resources.class_id(card.program)
        else:
            if _google_recently_down():
                logger.info("no Google Wallet link for card %s: Google failed moments ago", card.pk)
                return None
            client = WalletObjectsClient(retry_delays=PAGE_RETRY_DELAYS, timeout=PAGE_TIMEOUT_SECONDS)
            try:
                object_id, class_id = ensure_card_object(card, client)
            except GoogleWalletError as exc:
                if exc.status is None or exc.status == 429 or exc.status >= 500:  # no answer, failing or throttling
                    _mark_google_down()
                raise
        return SAVE_URL_PREFIX + save_jwt(object_id, class_id)
    except (GoogleWalletError, CredentialError) as exc:
        logger.warning("no Google Wallet link for card %s: %s", card.pk, exc)
        return None


def _google_recently_down() -> bool:
    try:
        return cache.get(GOOGLE_DOWN_CACHE_KEY) is not None
    except Exception:  # noqa: BLE001 - cache down too: ask Google
        return False


def _mark_google_down() -> None:
    try:
        cache.set(GOOGLE_DOWN_CACHE_KEY, 1, GOOGLE_DOWN_SECONDS)
    except Exception:  # noqa: BLE001 - cache down: every first view waits on Google, as before
        logger.warning("cache unavailable; cannot remember that Google Wallet is down", exc_info=True)


def _class_is_current(program: LoyaltyProgram) -> bool:
    return GoogleWalletClass.objects.filter(
        program=program, class_id=resources.class_id(program), program_updated_at=program.updated_at
    ).exists()
