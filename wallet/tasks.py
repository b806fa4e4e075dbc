"""Celery tasks delivering wallet pass updates from the outbox.

The pending WalletUpdate row, written in the same transaction as the balance change, is
the promise; a Celery message is only a nudge to deliver it soon. A lost nudge (broker
down, worker killed) costs nothing but time: the periodic sweep delivers every due row.
"""

import logging
import time

from celery import shared_task
from django.db import InterfaceError, OperationalError

from core import nudges
from wallet import delivery

logger = logging.getLogger(__name__)

# Changes of one card within this window coalesce into one delivery: the nudge waits this
# long, and by then every change of the window sits in the card's single pending row.
COALESCE_SECONDS = 5
# Above this many cards at once (an expiry batch), one sweep beats many messages.
SWEEP_THRESHOLD = 50
# One sweep stops after this long; the next periodic run carries on.
SWEEP_TIME_BUDGET_SECONDS = 50

# Database hiccups (a restart, a failover, a dropped connection) are worth retrying.
TRANSIENT_ERRORS = (OperationalError, InterfaceError)


def enqueue_deliveries(card_ids: list[int]) -> None:
    """Nudge the worker after commit. Never raises and never waits long: the outbox row is the promise."""
    if len(card_ids) > SWEEP_THRESHOLD:
        nudges.publish(sweep_wallet_updates, [()], countdown=COALESCE_SECONDS, what="wallet update")
    else:
        nudges.publish(
            deliver_wallet_update,
            [(card_id,) for card_id in card_ids],
            countdown=COALESCE_SECONDS,
            what="wallet update",
        )


@shared_task(
    name="wallet.tasks.deliver_wallet_update",
    acks_late=True,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=5,
    soft_time_limit=60,
    time_limit=90,
    ignore_result=True,
)
def deliver_wallet_update(card_id: int) -> bool:
    """Deliver the card's pending update, if it still is pending (a rerun or a late duplicate does nothing).

    The pending row is locked with skip-locked while it is delivered, so two messages for one
    card never push twice; wallet failures are retried through the row's own backoff.
    """
    return delivery.deliver_pending(card_id)


@shared_task(
    name="wallet.tasks.sweep_wallet_updates",
    acks_late=True,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=10,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=3,
    soft_time_limit=240,
    time_limit=300,
    ignore_result=True,
)
def sweep_wallet_updates(time_budget: float = SWEEP_TIME_BUDGET_SECONDS) -> int:
    """Deliver every due pending update: the ones whose nudge was lost and the retries that are due."""
    deadline = time.monotonic() + time_budget
    delivered = 0
    while time.monotonic() < deadline and (card_ids := delivery.due_card_ids()):
        progressed = 0
        for card_id in card_ids:
            if time.monotonic() >= deadline:
                break
            progressed += delivery.deliver_pending(card_id)
        delivered += progressed
        if not progressed:  # the rest is held by another worker or failed again; the next sweep sees it
            break
    if delivered:
        logger.info("wallet sweep delivered %d update(s)", delivered)
    return delivered
