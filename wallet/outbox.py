"""Recording pass updates in the outbox, inside the caller's transaction."""

import logging
from collections.abc import Iterable

from django.db import transaction

from wallet.models import WalletUpdate

logger = logging.getLogger(__name__)


def schedule_pass_updates(card_ids: Iterable[int]) -> None:
    """Record that these cards' wallet passes must be refreshed, then nudge the worker.

    The row is the promise; the Celery message after commit is only a nudge. If the
    broker is down the periodic sweep delivers the row later.
    """
    card_ids = list(card_ids)
    if not card_ids:
        return
    # One pending row per card: a second change before delivery coalesces into it.
    WalletUpdate.objects.bulk_create([WalletUpdate(card_id=card_id) for card_id in card_ids], ignore_conflicts=True)
    transaction.on_commit(lambda: _nudge_worker(card_ids))


def _nudge_worker(card_ids: list[int]) -> None:
    from wallet.tasks import enqueue_deliveries

    enqueue_deliveries(card_ids)
