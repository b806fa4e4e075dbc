"""Recording pass updates in the outbox, inside the caller's transaction."""

import logging
from collections.abc import Iterable

from django.db import connection, transaction
from django.utils import timezone

from wallet.models import WalletUpdate
from wallet.switches import is_apple_wallet_enabled, is_google_wallet_enabled

logger = logging.getLogger(__name__)


def schedule_pass_updates(card_ids: Iterable[int]) -> None:
    """Record that these cards' wallet passes must be refreshed, then nudge the worker.

    The row is the promise; the Celery message after commit is only a nudge. If the
    broker is down the periodic sweep delivers the row later. A card whose update is already
    pending (a second change within seconds) coalesces into that row, whose nudge is on its way.
    With no wallet switched on there is no pass to push: no message, the sweep settles the rows.
    """
    card_ids = list(card_ids)
    if not card_ids:
        return
    if connection.vendor == "postgresql":
        card_ids = _insert_pending(card_ids)
    else:  # the embedded SQLite: the same outcome in two statements
        pending = set(
            WalletUpdate.objects.filter(card_id__in=card_ids, status=WalletUpdate.Status.PENDING).values_list(
                "card_id", flat=True
            )
        )
        card_ids = [card_id for card_id in card_ids if card_id not in pending]
        WalletUpdate.objects.bulk_create([WalletUpdate(card_id=card_id) for card_id in card_ids], ignore_conflicts=True)
    nudge_after_commit(card_ids)


def nudge_after_commit(card_ids: list[int]) -> None:
    """After commit, tell the worker about these newly pending cards, when a wallet is switched on."""
    if card_ids and (is_apple_wallet_enabled() or is_google_wallet_enabled()):
        transaction.on_commit(lambda: _nudge_worker(card_ids))


def pending_insert_sql(card_id: int) -> tuple[str, list]:
    """PostgreSQL: the INSERT of one card's pending row, for a caller's ``WITH`` statement.

    It returns the card's id when it made the row, nothing when one was already pending.
    """
    now = timezone.now()
    return (
        f"INSERT INTO {WalletUpdate._meta.db_table} "
        "(card_id, status, created_at, next_attempt_at, attempts, last_error) "
        "VALUES (%s, %s, %s, %s, 0, '') ON CONFLICT DO NOTHING RETURNING card_id",
        [card_id, WalletUpdate.Status.PENDING, now, now],
    )


def _insert_pending(card_ids: list[int]) -> list[int]:
    """One pending row per card, in one statement for any number of cards; the cards that got a new one."""
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {WalletUpdate._meta.db_table} "
            "(card_id, status, created_at, next_attempt_at, attempts, last_error) "
            "SELECT card_id, %s, %s, %s, 0, '' FROM unnest(%s::bigint[]) AS card_id "
            "ON CONFLICT DO NOTHING RETURNING card_id",
            [WalletUpdate.Status.PENDING, now, now, card_ids],
        )
        return [row[0] for row in cursor.fetchall()]


def _nudge_worker(card_ids: list[int]) -> None:
    from wallet.tasks import enqueue_deliveries

    enqueue_deliveries(card_ids)
