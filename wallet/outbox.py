"""Recording pass updates in the outbox, inside the caller's transaction."""

import logging
from collections.abc import Iterable

from django.db import connection, transaction
from django.utils import timezone

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
    if len(card_ids) > 1 and connection.vendor == "postgresql":
        _insert_pending_set_based(card_ids)
    else:
        WalletUpdate.objects.bulk_create([WalletUpdate(card_id=card_id) for card_id in card_ids], ignore_conflicts=True)
    transaction.on_commit(lambda: _nudge_worker(card_ids))


def _insert_pending_set_based(card_ids: list[int]) -> None:
    """The same insert for a batch (an expiry run) without building a model object per card."""
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {WalletUpdate._meta.db_table} "
            "(card_id, status, created_at, next_attempt_at, attempts, last_error) "
            "SELECT card_id, %s, %s, %s, 0, '' FROM unnest(%s::bigint[]) AS card_id "
            "ON CONFLICT DO NOTHING",
            [WalletUpdate.Status.PENDING, now, now, card_ids],
        )


def _nudge_worker(card_ids: list[int]) -> None:
    from wallet.tasks import enqueue_deliveries

    enqueue_deliveries(card_ids)
