"""Pushing a card's pass update to every Apple device registered for it."""

import logging

import httpx
from django.utils import timezone

from wallet.apple.apns import APNsClient
from wallet.models import AppleDeviceRegistration

logger = logging.getLogger(__name__)


class APNsDeliveryError(Exception):
    """At least one push must be tried again later (APNs unreachable, 429, 5xx, 403)."""


def push_card_passes(card_id: int, *, ca_file: str | None = None) -> int:
    """Push once per distinct push token registered for the card; returns how many were accepted.

    410 deletes the registrations of that token (one device holds several passes with one
    token). 429, 5xx, 403 and network errors raise after the other tokens were tried, so the
    outbox backs off and tries again. Other 4xx (a malformed token) are logged and not retried.
    """
    tokens = list(
        AppleDeviceRegistration.objects.filter(card_id=card_id)
        .order_by("push_token")
        .values_list("push_token", flat=True)
        .distinct()
    )
    if not tokens:
        return 0
    delivered: list[str] = []
    failures: list[str] = []
    with APNsClient(ca_file=ca_file) as client:
        for token in tokens:
            try:
                result = client.push(token)
            except httpx.HTTPError as exc:
                failures.append(f"{type(exc).__name__}: {exc}")
                continue
            if result.delivered:
                delivered.append(token)
            elif result.unregistered:
                removed, _ = AppleDeviceRegistration.objects.filter(push_token=token).delete()
                logger.info("APNs 410 for a device of card %s: %d registration(s) removed", card_id, removed)
            elif result.retryable or result.status == 403:
                failures.append(f"APNs {result.status} {result.reason}".strip())
            else:
                logger.warning("APNs refused a push for card %s: %s %s", card_id, result.status, result.reason)
    if delivered:
        AppleDeviceRegistration.objects.filter(card_id=card_id, push_token__in=delivered).update(
            last_pushed_at=timezone.now()
        )
    if failures:
        raise APNsDeliveryError("; ".join(failures))
    return len(delivered)
