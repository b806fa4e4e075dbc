"""Delivering pending pass updates from the outbox to the wallets that are switched on."""

import datetime
import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from wallet.models import WalletUpdate

logger = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 3600


def push_card(card_id: int) -> None:
    """Refresh every wallet pass of one card (Google object patch, Apple pushes)."""
    if settings.is_google_wallet_enabled:
        from wallet.google import sync_card_object

        sync_card_object(card_id)
    if settings.is_apple_wallet_enabled:
        from wallet.apple import push_card_passes

        push_card_passes(card_id)


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
        update.status = WalletUpdate.Status.DELIVERED
        update.delivered_at = timezone.now()
        update.attempts += 1
        update.save(update_fields=["status", "delivered_at", "attempts"])
        return True


def due_card_ids(limit: int = 500, now: datetime.datetime | None = None) -> list[int]:
    now = now or timezone.now()
    return list(
        WalletUpdate.objects.filter(status=WalletUpdate.Status.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("card_id", flat=True)[:limit]
    )
