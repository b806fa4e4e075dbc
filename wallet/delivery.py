"""Delivering pending pass updates from the outbox to the wallets that are switched on."""

import datetime
import logging

from django.db import transaction
from django.utils import timezone

from loyalty.models import LoyaltyCard
from wallet.models import AppleDeviceRegistration, WalletUpdate
from wallet.switches import is_apple_wallet_enabled, is_google_wallet_enabled

logger = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 3600


class WalletPushError(Exception):
    """One or both wallets failed; the update is tried again with backoff."""


def push_card(card_id: int) -> None:
    """Refresh every wallet pass of one card (Google object patch, Apple pushes).

    Both wallets are tried even when the first fails, so Google being down does not hold
    back Apple devices (and the other way round); any failure is raised afterwards so the
    outbox row is retried. A retry repeats the successful half, which is harmless: a patch
    with the same values, a push after which the device gets the same pass.
    """
    errors = []
    if is_google_wallet_enabled():
        from wallet.google import sync_card_object

        try:
            sync_card_object(card_id)
        except Exception as exc:  # noqa: BLE001 - reported below, after Apple had its turn
            errors.append(f"Google: {type(exc).__name__}: {exc}")
    if is_apple_wallet_enabled():
        from wallet.apple import push_card_passes

        try:
            push_card_passes(card_id)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(f"Apple: {type(exc).__name__}: {exc}")
    if errors:
        raise WalletPushError("; ".join(errors))
    forget_devices_of_revoked_card(card_id)


def forget_devices_of_revoked_card(card_id: int) -> int:
    """After the last push to a card whose customer was erased, forget the devices that hold its pass.

    The push above made each device fetch the pass once more (inactive, without the person's name);
    from now on nothing about those devices is kept. Returns how many registrations were removed.
    """
    revoked = LoyaltyCard.objects.filter(pk=card_id, customer__erased_at__isnull=False)
    if not revoked.exists():
        return 0
    removed, _ = AppleDeviceRegistration.objects.filter(card_id=card_id).delete()
    if removed:
        logger.info("card %s revoked: %d Apple device registration(s) removed after the last push", card_id, removed)
    return removed


def deliver_pending(card_id: int, now: datetime.datetime | None = None) -> bool:
    """Deliver the card's pending update, if any is due. Returns whether one was delivered."""
    now = now or timezone.now()
    with transaction.atomic():
        update = (
            WalletUpdate.objects.select_for_update(skip_locked=True)
            .filter(card_id=card_id, status=WalletUpdate.Status.PENDING, next_attempt_at__lte=now)
            .first()
        )
        if update is None:
            return False
        version = _card_version(card_id)
        try:
            push_card(card_id)
        except Exception as exc:  # noqa: BLE001 - any failure is retried later with backoff
            update.attempts += 1
            delay = min(2**update.attempts * 10, MAX_BACKOFF_SECONDS)
            update.next_attempt_at = now + datetime.timedelta(seconds=delay)
            update.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            update.save(update_fields=["attempts", "next_attempt_at", "last_error"])
            logger.warning("wallet update for card %s failed (attempt %s): %r", card_id, update.attempts, exc)
            return False
        if _card_version(card_id, lock=True) != version:
            # A balance changed while we pushed: its outbox write coalesced into this very row,
            # so the row stays pending (due now) and the change is delivered next.
            update.attempts += 1
            update.next_attempt_at = timezone.now()
            update.save(update_fields=["attempts", "next_attempt_at"])
            return True
        update.status = WalletUpdate.Status.DELIVERED
        update.delivered_at = timezone.now()
        update.attempts += 1
        update.save(update_fields=["status", "delivered_at", "attempts"])
        return True


def _card_version(card_id: int, lock: bool = False) -> datetime.datetime | None:
    """The card's ``updated_at``; every balance or status change moves it.

    With ``lock``, waits for a balance change in flight to commit (and holds later ones off
    until this transaction ends, a moment later), so no change can slip between this read
    and the row being marked delivered. The lock is taken after the pushes, never around them.
    """
    cards = LoyaltyCard.objects.filter(pk=card_id)
    if lock:
        cards = cards.select_for_update(of=("self",), no_key=True)
    return cards.values_list("updated_at", flat=True).first()


def due_card_ids(limit: int = 500, now: datetime.datetime | None = None) -> list[int]:
    now = now or timezone.now()
    return list(
        WalletUpdate.objects.filter(status=WalletUpdate.Status.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("card_id", flat=True)[:limit]
    )
