"""Points expiry after inactivity: batched, each batch its own transaction."""

import datetime
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from loyalty.models import LoyaltyCard, LoyaltyProgram, LoyaltyTransaction
from loyalty.services.ledger import (
    Type,
)
from wallet.outbox import schedule_pass_updates


@dataclass
class ExpiryReport:
    cards: int = 0
    points: int = 0


def expiry_candidates(program: LoyaltyProgram, now: datetime.datetime):
    """Cards of the program whose points are due to expire at `now` (strictly older than N days)."""
    cutoff = now - datetime.timedelta(days=program.points_expiry_days)
    if not rule_allows_expiry(program, now):
        return LoyaltyCard.objects.none()
    return LoyaltyCard.objects.filter(
        program=program, points_balance__gt=0, last_activity_at__lt=cutoff, deleted_at__isnull=True
    )


def rule_allows_expiry(program: LoyaltyProgram, now: datetime.datetime) -> bool:
    """False while the program's expiry was shortened less than its days ago: inactivity counts from
    the change at the earliest, so no card of the program can be due yet."""
    changed = program.points_expiry_changed_at
    return changed is None or changed < now - datetime.timedelta(days=program.points_expiry_days)


def expiring_programs(merchant_slug: str | None = None):
    programs = LoyaltyProgram.objects.filter(
        points_expiry_days__isnull=False, kind__in=[LoyaltyProgram.Kind.POINTS, LoyaltyProgram.Kind.HYBRID]
    ).select_related("merchant")
    if merchant_slug:
        programs = programs.filter(merchant__slug=merchant_slug)
    return programs.order_by("pk")


def expire_points(
    *,
    merchant_slug: str | None = None,
    now: datetime.datetime | None = None,
    batch_size: int | None = None,
    on_batch: Callable[[ExpiryReport], None] | None = None,
) -> ExpiryReport:
    """Expire the points of every card inactive for longer than its program allows.

    Works in batches, each its own transaction that locks its cards and skips cards a
    cashier holds right now (they are active, so not expiring). A card whose activity
    moved after the candidates were chosen no longer matches the locked query, and a
    balance already at zero is never chosen, so a rerun, a concurrent run or a run after
    a crash half-way expires nothing twice. `on_batch` is called after each committed batch
    with the running totals.
    """
    now = now or timezone.now()
    batch_size = batch_size or settings.LOYALTY_EXPIRY_BATCH_SIZE
    report = ExpiryReport()
    for program in expiring_programs(merchant_slug):
        if not rule_allows_expiry(program, now):
            continue
        after = None
        while True:
            cards, points, after = _expire_batch(program, now, batch_size, after)
            if not cards:
                break
            report.cards += cards
            report.points += points
            if on_batch:
                on_batch(report)
    return report


# Where a program's run has got to: the (last_activity_at, id) of the last card it expired. Batches
# walk the candidates in that order, so the zero balances among the inactive cards (the index no
# longer knows balances, see LoyaltyCard.Meta) are read once a night rather than once a batch.
Position = tuple[datetime.datetime, int] | None


def _expire_batch(
    program: LoyaltyProgram, now: datetime.datetime, batch_size: int, after: Position
) -> tuple[int, int, Position]:
    with transaction.atomic(durable=True):
        if connection.vendor == "postgresql":
            expired = _expire_batch_set_based(program, now, batch_size, after)
        else:
            expired = _expire_batch_orm(program, now, batch_size, after)
        card_ids = [pk for pk, _, _ in expired]
        schedule_pass_updates(card_ids)
        position = max(((at, pk) for pk, _, at in expired), default=after)
        return len(card_ids), sum(points for _, points, _ in expired), position


def _expiry_reason(program: LoyaltyProgram) -> str:
    return f"No activity for {program.points_expiry_days} days"


def _expire_batch_orm(
    program: LoyaltyProgram, now: datetime.datetime, batch_size: int, after: Position
) -> list[tuple[int, int, datetime.datetime]]:
    candidates = expiry_candidates(program, now)
    if after is not None:
        at, pk = after
        candidates = candidates.filter(Q(last_activity_at__gt=at) | Q(last_activity_at=at, pk__gt=pk))
    rows = list(
        candidates.select_for_update(skip_locked=True, no_key=True)
        .order_by("last_activity_at", "pk")
        .values_list("pk", "points_balance", "stamp_count", "last_activity_at")[:batch_size]
    )
    if not rows:
        return []
    reason = _expiry_reason(program)
    LoyaltyTransaction.objects.bulk_create(
        [
            LoyaltyTransaction(
                card_id=pk,
                merchant_id=program.merchant_id,
                type=Type.POINTS_EXPIRE,
                points_delta=-balance,
                stamps_after=stamps,
                points_after=0,
                reason=reason,
                created_at=now,
            )
            for pk, balance, stamps, _ in rows
        ],
        batch_size=1000,
    )
    LoyaltyCard.objects.filter(pk__in=[row[0] for row in rows]).update(points_balance=0, updated_at=timezone.now())
    return [(pk, balance, at) for pk, balance, _, at in rows]


def _expire_batch_set_based(
    program: LoyaltyProgram, now: datetime.datetime, batch_size: int, after: Position
) -> list[tuple[int, int, datetime.datetime]]:
    """PostgreSQL: lock, zero and write the ledger rows of one batch in a single statement.

    The same rows as expiry_candidates(), in card_expiry_candidates_idx's order from ``after`` on,
    locked FOR NO KEY UPDATE SKIP LOCKED as the ORM path does (PostgreSQL re-checks the
    conditions on a row updated since the snapshot, so a card that just gained activity or was
    just expired drops out of the batch). Only the balance and updated_at change, columns no
    index reads: the update is HOT, a new row version on the card's own page and no index entry.
    """
    card_table = connection.ops.quote_name(LoyaltyCard._meta.db_table)
    ledger_table = connection.ops.quote_name(LoyaltyTransaction._meta.db_table)
    from_position = "AND (last_activity_at, id) > (%(after_at)s, %(after_id)s)" if after is not None else ""
    sql = f"""
        WITH batch AS MATERIALIZED (
            SELECT id, points_balance, stamp_count FROM {card_table}
            WHERE program_id = %(program)s AND deleted_at IS NULL
              AND last_activity_at < %(cutoff)s {from_position} AND points_balance > 0
            ORDER BY last_activity_at, id
            LIMIT %(limit)s
            FOR NO KEY UPDATE SKIP LOCKED
        ), expired AS (
            UPDATE {card_table} AS card SET points_balance = 0, updated_at = %(updated_at)s
            FROM batch WHERE card.id = batch.id
            RETURNING card.id, batch.points_balance AS points, batch.stamp_count AS stamps, card.last_activity_at
        ), ledger AS (
            INSERT INTO {ledger_table} (
                card_id, merchant_id, type, stamps_delta, points_delta, stamps_after, points_after,
                order_reference, reason, idempotency_key, created_at
            )
            SELECT id, %(merchant)s, %(type)s, 0, -points, stamps, 0, '', %(reason)s, '', %(now)s FROM expired
        )
        SELECT id, points, last_activity_at FROM expired
    """
    after_at, after_id = after if after is not None else (None, None)
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            {
                "program": program.pk,
                "cutoff": now - datetime.timedelta(days=program.points_expiry_days),
                "after_at": after_at,
                "after_id": after_id,
                "limit": batch_size,
                "updated_at": timezone.now(),
                "merchant": program.merchant_id,
                "type": Type.POINTS_EXPIRE.value,
                "reason": _expiry_reason(program),
                "now": now,
            },
        )
        return cursor.fetchall()
