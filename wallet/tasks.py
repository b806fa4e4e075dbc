import logging

from celery import shared_task

from wallet import delivery

logger = logging.getLogger(__name__)

# Changes of one card within this window coalesce into one delivery.
COALESCE_SECONDS = 5
# Above this many cards at once (an expiry batch), one sweep beats many messages.
SWEEP_THRESHOLD = 50


def enqueue_deliveries(card_ids: list[int]) -> None:
    """Nudge the worker after commit. Never raises: the outbox row is the promise."""
    try:
        if len(card_ids) > SWEEP_THRESHOLD:
            sweep_wallet_updates.apply_async(countdown=COALESCE_SECONDS, retry=False)
        else:
            for card_id in card_ids:
                deliver_wallet_update.apply_async(args=[card_id], countdown=COALESCE_SECONDS, retry=False)
    except Exception as exc:  # noqa: BLE001 - broker down: the periodic sweep delivers later
        logger.warning(
            "could not reach the Celery broker (%s); the sweep will deliver %d update(s)", exc, len(card_ids)
        )


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90, ignore_result=True)
def deliver_wallet_update(card_id: int) -> bool:
    return delivery.deliver_pending(card_id)


@shared_task(acks_late=True, soft_time_limit=600, time_limit=660, ignore_result=True)
def sweep_wallet_updates() -> int:
    """Deliver every due pending update (also the ones whose message was lost)."""
    delivered = 0
    while card_ids := delivery.due_card_ids():
        progressed = sum(delivery.deliver_pending(card_id) for card_id in card_ids)
        delivered += progressed
        if not progressed:
            break
    return delivered
