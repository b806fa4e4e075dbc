"""Every balance change of a loyalty card happens here and nowhere else.

Each operation: one transaction, the card row locked, the rules checked, the card
updated, one ledger row written with the balances after it, a wallet pass update
recorded in the outbox. Views, admin actions, tasks and commands all call these.
"""

import datetime
import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from customers.models import Customer
from loyalty.errors import LoyaltyError, conflict, forbidden, invalid
from loyalty.models import LoyaltyCard, LoyaltyProgram, LoyaltyTransaction, Reward
from merchants.models import StaffMember, Store
from wallet.outbox import schedule_pass_updates

Type = LoyaltyTransaction.Type

MAX_PURCHASE_AMOUNT = Decimal(settings.LOYALTY_MAX_PURCHASE_AMOUNT)
MAX_POINTS_PER_OPERATION = 1_000_000
MAX_STAMPS_PER_ADJUSTMENT = 1_000


@dataclass(frozen=True)
class LedgerResult:
    transaction: LoyaltyTransaction
    card: LoyaltyCard
    replayed: bool = False


# --- enrollment ---------------------------------------------------------------------


def issue_card(*, customer: Customer, program: LoyaltyProgram, store: Store | None = None) -> LoyaltyCard:
    """Create the customer's card on the program and credit the welcome bonus."""
    if customer.merchant_id != program.merchant_id:
        raise invalid("merchant_mismatch", "The customer and the program belong to different merchants.")
    if store is not None and store.merchant_id != program.merchant_id:
        raise invalid("unknown_store", "That store does not belong to this merchant.")
    with transaction.atomic():
        try:
            with transaction.atomic():
                card = LoyaltyCard.objects.create(
                    merchant_id=program.merchant_id, customer=customer, program=program, enrolled_at_store=store
                )
        except IntegrityError as exc:
            raise conflict("card_exists", "This customer already has a card at this merchant.") from exc
        bonus = program.welcome_bonus if program.uses_points else 0
        if bonus:
            card.points_balance = bonus
            card.lifetime_points_earned = bonus
            card.last_points_at = card.last_activity_at
            card.save(update_fields=["points_balance", "lifetime_points_earned", "last_points_at", "updated_at"])
        _write_ledger(card, Type.WELCOME_BONUS, points_delta=bonus, store=store)
        schedule_pass_updates([card.pk])
    return card


# --- stamps ---------------------------------------------------------------------------


def add_stamp(
    *,
    card: LoyaltyCard,
    store: Store | None,
    staff_user: AbstractBaseUser | None,
    idempotency_key: str = "",
    now: datetime.datetime | None = None,
) -> LedgerResult:
    now = now or timezone.now()
    with transaction.atomic():
        card, replay = _lock(card, idempotency_key, Type.STAMP, store)
        if replay:
            return replay
        program = card.program
        if not program.uses_stamps:
            raise conflict("stamps_not_enabled", "This program does not collect stamps.")
        if program.stamp_cooldown_minutes and card.last_stamp_at:
            ready_at = card.last_stamp_at + datetime.timedelta(minutes=program.stamp_cooldown_minutes)
            if now < ready_at:
                wait = math.ceil((ready_at - now).total_seconds())
                raise conflict(
                    "cooldown_active",
                    f"This card was stamped moments ago; the next stamp is possible in {_human_wait(wait)}.",
                    retry_after_seconds=wait,
                )
        if program.max_stamps_per_day is not None:
            day_start = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
            stamped_today = card.transactions.filter(type=Type.STAMP, created_at__gte=day_start).count()
            if stamped_today >= program.max_stamps_per_day:
                raise conflict(
                    "daily_limit_reached",
                    f"This card already has {stamped_today} stamps today, the daily maximum.",
                    limit=program.max_stamps_per_day,
                )
        card.stamp_count += 1
        card.lifetime_stamps += 1
        card.last_stamp_at = now
        card.last_activity_at = now
        _save_card(card, "stamp_count", "lifetime_stamps", "last_stamp_at", "last_activity_at")
        return _record(
            card,
            Type.STAMP,
            stamps_delta=1,
            store=store,
            staff_user=staff_user,
            idempotency_key=idempotency_key,
            now=now,
        )


def redeem_stamps(
    *,
    card: LoyaltyCard,
    store: Store | None,
    staff_user: AbstractBaseUser | None,
    idempotency_key: str = "",
    now: datetime.datetime | None = None,
) -> LedgerResult:
    now = now or timezone.now()
    with transaction.atomic():
        card, replay = _lock(card, idempotency_key, Type.STAMP_REDEEM, store)
        if replay:
            return replay
        program = card.program
        if not program.uses_stamps:
            raise conflict("stamps_not_enabled", "This program does not collect stamps.")
        if card.stamp_count < program.stamps_target:
            raise conflict(
                "insufficient_stamps",
                f"The card has {card.stamp_count} of the {program.stamps_target} stamps the reward needs.",
                stamp_count=card.stamp_count,
                stamps_target=program.stamps_target,
            )
        card.stamp_count -= program.stamps_target
        card.rewards_redeemed += 1
        card.last_redemption_at = now
        card.last_activity_at = now
        _save_card(card, "stamp_count", "rewards_redeemed", "last_redemption_at", "last_activity_at")
        return _record(
            card,
            Type.STAMP_REDEEM,
            stamps_delta=-program.stamps_target,
            store=store,
            staff_user=staff_user,
            idempotency_key=idempotency_key,
            reason=program.stamp_reward_description,
            now=now,
        )


# --- points -----------------------------------------------------------------------------


def points_for_purchase(program: LoyaltyProgram, purchase_amount: Decimal) -> int:
    return math.floor(purchase_amount * program.points_per_euro)


def earn_points(
    *,
    card: LoyaltyCard,
    purchase_amount: Decimal,
    store: Store | None,
    staff_user: AbstractBaseUser | None,
    order_reference: str = "",
    idempotency_key: str = "",
    now: datetime.datetime | None = None,
) -> LedgerResult:
    now = now or timezone.now()
    purchase_amount = _clean_amount(purchase_amount)
    order_reference = (order_reference or "").strip()
    with transaction.atomic():
        card, replay = _lock(card, idempotency_key, Type.POINTS_EARN, store)
        if replay:
            return replay
        program = card.program
        if not program.uses_points:
            raise conflict("points_not_enabled", "This program does not collect points.")
        if purchase_amount < program.min_purchase:
            raise conflict(
                "below_min_purchase",
                f"Purchases below €{program.min_purchase} do not earn points.",
                min_purchase=str(program.min_purchase),
            )
        if (
            order_reference
            and LoyaltyTransaction.objects.filter(
                merchant_id=card.merchant_id, type=Type.POINTS_EARN, order_reference=order_reference
            ).exists()
        ):
            raise _duplicate_order(order_reference)
        points = points_for_purchase(program, purchase_amount)
        card.points_balance += points
        card.lifetime_points_earned += points
        card.last_points_at = now
        card.last_activity_at = now
        _save_card(card, "points_balance", "lifetime_points_earned", "last_points_at", "last_activity_at")
        return _record(
            card,
            Type.POINTS_EARN,
            points_delta=points,
            store=store,
            staff_user=staff_user,
            idempotency_key=idempotency_key,
            purchase_amount=purchase_amount,
            order_reference=order_reference,
            now=now,
        )


def redeem_points(
    *,
    card: LoyaltyCard,
    store: Store | None,
    staff_user: AbstractBaseUser | None,
    reward: Reward | None = None,
    points: int | None = None,
    idempotency_key: str = "",
    now: datetime.datetime | None = None,
) -> LedgerResult:
    now = now or timezone.now()
    if (reward is None) == (points is None):
        raise invalid("invalid_input", "Redeem either a reward or an amount of points.")
    if points is not None:
        points = _clean_points(points)
    with transaction.atomic():
        card, replay = _lock(card, idempotency_key, Type.POINTS_REDEEM, store)
        if replay:
            return replay
        program = card.program
        if not program.uses_points:
            raise conflict("points_not_enabled", "This program does not collect points.")
        if reward is not None:
            if reward.program_id != program.pk or not reward.is_active:
                raise invalid("unknown_reward", "That reward is not in this card's catalogue.")
            points = reward.points_cost
        if card.points_balance < points:
            raise conflict(
                "insufficient_points",
                f"The card has {card.points_balance} points; this needs {points}.",
                points_balance=card.points_balance,
                points_required=points,
            )
        card.points_balance -= points
        card.lifetime_points_redeemed += points
        card.last_redemption_at = now
        card.last_activity_at = now
        _save_card(card, "points_balance", "lifetime_points_redeemed", "last_redemption_at", "last_activity_at")
        return _record(
            card,
            Type.POINTS_REDEEM,
            points_delta=-points,
            store=store,
            staff_user=staff_user,
            idempotency_key=idempotency_key,
            reward=reward,
            reason=reward.name if reward else "",
            now=now,
        )


def void_points(
    *,
    card: LoyaltyCard,
    store: Store | None,
    staff_user: AbstractBaseUser | None,
    earn_transaction_id: int | None = None,
    points: int | None = None,
    reason: str = "",
    idempotency_key: str = "",
    now: datetime.datetime | None = None,
) -> LedgerResult:
    """Take back points on a return, against an earn transaction or as an amount.

    An earn is voided once, taking back its points but never more than the balance (the
    customer may have spent some already). An amount above the balance is refused.
    """
    now = now or timezone.now()
    reason = (reason or "").strip()
    if (earn_transaction_id is None) == (points is None):
        raise invalid("invalid_input", "Void either an earn transaction or an amount of points.")
    if points is not None:
        points = _clean_points(points)
        if not reason:
            raise invalid("reason_required", "Say why these points are voided.")
    with transaction.atomic():
        card, replay = _lock(card, idempotency_key, Type.POINTS_VOID, store)
        if replay:
            return replay
        earn = None
        if earn_transaction_id is not None:
            earn = LoyaltyTransaction.objects.filter(pk=earn_transaction_id, card=card, type=Type.POINTS_EARN).first()
            if earn is None:
                raise invalid("unknown_transaction", "That earn transaction is not on this card.")
            if earn.reversals.filter(type=Type.POINTS_VOID).exists():
                raise conflict("already_voided", "The points of that purchase were already voided.")
            if card.points_balance == 0:
                raise conflict(
                    "insufficient_points",
                    "The card has no points left to take back.",
                    points_balance=0,
                    points_required=earn.points_delta,
                )
            points = min(earn.points_delta, card.points_balance)
            if not reason:
                reason = f"Return of order {earn.order_reference}" if earn.order_reference else "Return"
        elif card.points_balance < points:
            raise conflict(
                "insufficient_points",
                f"The card has {card.points_balance} points; cannot void {points}.",
                points_balance=card.points_balance,
                points_required=points,
            )
        card.points_balance -= points
        card.lifetime_points_voided += points
        _save_card(card, "points_balance", "lifetime_points_voided")
        return _record(
            card,
            Type.POINTS_VOID,
            points_delta=-points,
            store=store,
            staff_user=staff_user,
            idempotency_key=idempotency_key,
            related_transaction=earn,
            reason=reason,
            now=now,
        )


def adjust_balance(
    *,
    card: LoyaltyCard,
    staff_user: AbstractBaseUser | None,
    reason: str,
    points_delta: int = 0,
    stamps_delta: int = 0,
    store: Store | None = None,
    idempotency_key: str = "",
    now: datetime.datetime | None = None,
) -> LedgerResult:
    """A manual correction by a manager or owner (or the platform operator)."""
    now = now or timezone.now()
    reason = (reason or "").strip()
    if not reason:
        raise invalid("reason_required", "An adjustment needs a reason.")
    if not isinstance(points_delta, int) or not isinstance(stamps_delta, int):
        raise invalid("invalid_input", "Adjustments are whole numbers.")
    if points_delta == 0 and stamps_delta == 0:
        raise invalid("invalid_input", "An adjustment changes points, stamps or both.")
    if abs(points_delta) > MAX_POINTS_PER_OPERATION or abs(stamps_delta) > MAX_STAMPS_PER_ADJUSTMENT:
        raise invalid("invalid_amount", "That adjustment is larger than any real correction.")
    with transaction.atomic():
        card, replay = _lock(card, idempotency_key, Type.POINTS_ADJUST if points_delta else Type.STAMPS_ADJUST, store)
        if replay:
            return replay
        _ensure_manager(staff_user, card)
        if points_delta and not card.program.uses_points:
            raise conflict("points_not_enabled", "This program does not collect points.")
        if stamps_delta and not card.program.uses_stamps:
            raise conflict("stamps_not_enabled", "This program does not collect stamps.")
        if card.points_balance + points_delta < 0:
            raise conflict(
                "insufficient_points",
                f"The card has {card.points_balance} points; cannot remove {-points_delta}.",
                points_balance=card.points_balance,
            )
        if card.stamp_count + stamps_delta < 0:
            raise conflict(
                "insufficient_stamps",
                f"The card has {card.stamp_count} stamps; cannot remove {-stamps_delta}.",
                stamp_count=card.stamp_count,
            )
        card.points_balance += points_delta
        card.stamp_count += stamps_delta
        _save_card(card, "points_balance", "stamp_count")
        return _record(
            card,
            Type.POINTS_ADJUST if points_delta else Type.STAMPS_ADJUST,
            points_delta=points_delta,
            stamps_delta=stamps_delta,
            store=store,
            staff_user=staff_user,
            idempotency_key=idempotency_key,
            reason=reason,
            now=now,
        )


# --- internals ----------------------------------------------------------------------------


def _lock(
    card: LoyaltyCard, idempotency_key: str, type_: str, store: Store | None
) -> tuple[LoyaltyCard, LedgerResult | None]:
    """Lock the card row; answer a replay if this idempotency key was already applied."""
    locked = (
        LoyaltyCard.objects.select_for_update(of=("self",), no_key=True)
        .select_related("program", "merchant")
        .get(pk=card.pk)
    )
    if idempotency_key:
        previous = LoyaltyTransaction.objects.filter(
            merchant_id=locked.merchant_id, idempotency_key=idempotency_key
        ).first()
        if previous is not None:
            if previous.card_id != locked.pk or previous.type != type_:
                raise conflict("idempotency_conflict", "This Idempotency-Key was already used for another operation.")
            return locked, LedgerResult(transaction=previous, card=locked, replayed=True)
    if store is not None and store.merchant_id != locked.merchant_id:
        raise invalid("unknown_store", "That store does not belong to this card's merchant.")
    if not (locked.is_active and locked.deleted_at is None):
        raise conflict("card_inactive", "This card is deactivated.")
    if not (locked.program.is_active and locked.merchant.is_active):
        raise conflict("card_inactive", "This card's loyalty program is not active.")
    return locked, None


def _save_card(card: LoyaltyCard, *fields: str) -> None:
    card.save(update_fields=[*fields, "updated_at"])


def _record(card: LoyaltyCard, type_: str, **fields) -> LedgerResult:
    try:
        entry = _write_ledger(card, type_, **fields)
    except IntegrityError as exc:
        # Another card took the same key or order reference at this very moment: the unique
        # indexes decide, and the loser gets the domain error. Raising it aborts this
        # operation's transaction (or its savepoint, when nested), so no savepoint of its own.
        error = _unique_violation(exc, fields)
        if error is None:
            raise
        raise error from exc
    schedule_pass_updates([card.pk])
    return LedgerResult(transaction=entry, card=card)


def _unique_violation(exc: IntegrityError, fields: dict) -> LoyaltyError | None:
    """The domain error for the ledger's unique index ``exc`` is about, or None for anything else.

    PostgreSQL names the index (``ledger_idempotency_key_unique_per_merchant``,
    ``ledger_order_reference_earns_once``); SQLite's message names its columns.
    """
    problem = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None) or str(exc)
    if fields.get("idempotency_key") and "idempotency_key" in problem:
        return conflict("idempotency_conflict", "This Idempotency-Key was already used for another operation.")
    if fields.get("order_reference") and "order_reference" in problem:
        return _duplicate_order(fields["order_reference"])
    return None


def _write_ledger(
    card: LoyaltyCard,
    type_: str,
    *,
    stamps_delta: int = 0,
    points_delta: int = 0,
    now: datetime.datetime | None = None,
    **fields,
) -> LoyaltyTransaction:
    return LoyaltyTransaction.objects.create(
        card=card,
        merchant_id=card.merchant_id,
        type=type_,
        stamps_delta=stamps_delta,
        points_delta=points_delta,
        stamps_after=card.stamp_count,
        points_after=card.points_balance,
        created_at=now or timezone.now(),
        **fields,
    )


def _ensure_manager(staff_user: AbstractBaseUser | None, card: LoyaltyCard) -> None:
    if staff_user is not None and staff_user.is_superuser:
        return
    member = StaffMember.objects.filter(user=staff_user, merchant_id=card.merchant_id).first() if staff_user else None
    if member is None or not member.is_manager:
        raise forbidden("Only a manager or the owner can adjust balances.")


def _clean_amount(value) -> Decimal:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise invalid("invalid_amount", "The purchase amount is not a number.") from exc
    if not amount.is_finite() or amount <= 0:
        raise invalid("invalid_amount", "The purchase amount must be more than zero.")
    if amount > MAX_PURCHASE_AMOUNT:
        raise invalid("invalid_amount", f"The purchase amount cannot exceed €{MAX_PURCHASE_AMOUNT}.")
    if amount != amount.quantize(Decimal("0.01")):
        raise invalid("invalid_amount", "The purchase amount has at most two decimals.")
    return amount


def _clean_points(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid("invalid_amount", "Points are a whole number.")
    if value <= 0 or value > MAX_POINTS_PER_OPERATION:
        raise invalid("invalid_amount", f"Points must be between 1 and {MAX_POINTS_PER_OPERATION}.")
    return value


def _duplicate_order(order_reference: str) -> LoyaltyError:
    return conflict(
        "duplicate_order",
        f"Order {order_reference} already earned points.",
        order_reference=order_reference,
    )


def _human_wait(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} seconds"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


# --- expiration -----------------------------------------------------------------------------


@dataclass
class ExpiryReport:
    cards: int = 0
    points: int = 0


def expiry_candidates(program: LoyaltyProgram, now: datetime.datetime):
    """Cards of the program whose points are due to expire at `now` (strictly older than N days)."""
    cutoff = now - datetime.timedelta(days=program.points_expiry_days)
    return LoyaltyCard.objects.filter(
        program=program, points_balance__gt=0, last_activity_at__lt=cutoff, deleted_at__isnull=True
    )


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
        while True:
            cards, points = _expire_batch(program, now, batch_size)
            if not cards:
                break
            report.cards += cards
            report.points += points
            if on_batch:
                on_batch(report)
    return report


def _expire_batch(program: LoyaltyProgram, now: datetime.datetime, batch_size: int) -> tuple[int, int]:
    with transaction.atomic(durable=True):
        if connection.vendor == "postgresql":
            expired = _expire_batch_set_based(program, now, batch_size)
        else:
            expired = _expire_batch_orm(program, now, batch_size)
        card_ids = [pk for pk, _ in expired]
        schedule_pass_updates(card_ids)
        return len(card_ids), sum(points for _, points in expired)


def _expiry_reason(program: LoyaltyProgram) -> str:
    return f"No activity for {program.points_expiry_days} days"


def _expire_batch_orm(program: LoyaltyProgram, now: datetime.datetime, batch_size: int) -> list[tuple[int, int]]:
    rows = list(
        expiry_candidates(program, now)
        .select_for_update(skip_locked=True, no_key=True)
        .order_by()
        .values_list("pk", "points_balance", "stamp_count")[:batch_size]
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
            for pk, balance, stamps in rows
        ],
        batch_size=1000,
    )
    LoyaltyCard.objects.filter(pk__in=[pk for pk, _, _ in rows]).update(points_balance=0, updated_at=timezone.now())
    return [(pk, balance) for pk, balance, _ in rows]


def _expire_batch_set_based(program: LoyaltyProgram, now: datetime.datetime, batch_size: int) -> list[tuple[int, int]]:
    """PostgreSQL: lock, zero and write the ledger rows of one batch in a single statement.

    The same rows as expiry_candidates(), locked FOR NO KEY UPDATE SKIP LOCKED as the ORM
    path does (PostgreSQL re-checks the conditions on a row updated since the snapshot, so
    a card that just gained activity or was just expired drops out of the batch).
    """
    card_table = connection.ops.quote_name(LoyaltyCard._meta.db_table)
    ledger_table = connection.ops.quote_name(LoyaltyTransaction._meta.db_table)
    sql = f"""
        WITH batch AS MATERIALIZED (
            SELECT id, points_balance, stamp_count FROM {card_table}
            WHERE program_id = %(program)s AND points_balance > 0
              AND last_activity_at < %(cutoff)s AND deleted_at IS NULL
            LIMIT %(limit)s
            FOR NO KEY UPDATE SKIP LOCKED
        ), expired AS (
            UPDATE {card_table} AS card SET points_balance = 0, updated_at = %(updated_at)s
            FROM batch WHERE card.id = batch.id
            RETURNING card.id, batch.points_balance AS points, batch.stamp_count AS stamps
        ), ledger AS (
            INSERT INTO {ledger_table} (
                card_id, merchant_id, type, stamps_delta, points_delta, stamps_after, points_after,
                order_reference, reason, idempotency_key, created_at
            )
            SELECT id, %(merchant)s, %(type)s, 0, -points, stamps, 0, '', %(reason)s, '', %(now)s FROM expired
        )
        SELECT id, points FROM expired
    """
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            {
                "program": program.pk,
                "cutoff": now - datetime.timedelta(days=program.points_expiry_days),
                "limit": batch_size,
                "updated_at": timezone.now(),
                "merchant": program.merchant_id,
                "type": Type.POINTS_EXPIRE.value,
                "reason": _expiry_reason(program),
                "now": now,
            },
        )
        return cursor.fetchall()


# --- card status (no balance change, but the wallet pass shows it) -------------------------


def set_cards_active(*, card_ids: list[int], active: bool) -> int:
    with transaction.atomic():
        cards = LoyaltyCard.objects.filter(pk__in=card_ids, deleted_at__isnull=True).exclude(is_active=active)
        changed = list(cards.values_list("pk", flat=True))
        LoyaltyCard.objects.filter(pk__in=changed).update(is_active=active, updated_at=timezone.now())
        schedule_pass_updates(changed)
    return len(changed)


def soft_delete_cards(*, card_ids: list[int]) -> int:
    """Delete cards for the customer while their ledger stays; the wallet pass turns inactive."""
    with transaction.atomic():
        changed = list(
            LoyaltyCard.objects.filter(pk__in=card_ids, deleted_at__isnull=True).values_list("pk", flat=True)
        )
        now = timezone.now()
        LoyaltyCard.objects.filter(pk__in=changed).update(deleted_at=now, is_active=False, updated_at=now)
        schedule_pass_updates(changed)
    return len(changed)
