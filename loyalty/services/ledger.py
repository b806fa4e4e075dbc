"""What every balance change shares: the card lock, the ledger row, the input checks."""

import datetime
import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import IntegrityError
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from core.errors import LoyaltyError, conflict, invalid
from loyalty.models import LoyaltyCard, LoyaltyProgram, LoyaltyTransaction
from merchants.models import Store
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


def lock_card(
    card: LoyaltyCard, idempotency_key: str, type_: str, store: Store | None, annotations: dict | None = None
) -> tuple[LoyaltyCard, LedgerResult | None]:
    """Lock the card row; answer a replay if this idempotency key was already applied.

    ``annotations`` ride along in the same query (the best promotion, whether the program has
    tiers: loyalty/services/promotions.py), so the rules an operation needs cost no extra round trip.
    """
    locked = (
        LoyaltyCard.objects.select_for_update(of=("self",), no_key=True)
        .select_related("program", "merchant", "tier")
        .annotate(**(annotations or {}))
        .get(pk=card.pk)
    )
    if idempotency_key:
        previous = LoyaltyTransaction.objects.filter(
            merchant_id=locked.merchant_id, idempotency_key=idempotency_key
        ).first()
        if previous is not None:
            if previous.card_id != locked.pk or previous.type != type_:
                raise conflict(
                    "idempotency_conflict", _("This Idempotency-Key was already used for another operation.")
                )
            return locked, LedgerResult(transaction=previous, card=locked, replayed=True)
    if store is not None and store.merchant_id != locked.merchant_id:
        raise invalid("unknown_store", _("That store does not belong to this card's merchant."))
    if not (locked.is_active and locked.deleted_at is None):
        raise conflict("card_inactive", _("This card is deactivated."))
    if not (locked.program.is_active and locked.merchant.is_active):
        raise conflict("card_inactive", _("This card's loyalty program is not active."))
    return locked, None


def require_participation(store: Store | None, operation: str) -> None:
    """Refuse an operation at a store that does not take part: ``earn`` (stamps, points) or ``redeem``."""
    if store is None:
        return
    if operation == "earn" and not store.earns_loyalty:
        raise conflict(
            "store_not_participating",
            _("The %(store)s store does not give stamps or points at the moment: nothing was added to the card.")
            % {"store": store.name},
            store=store.code,
            operation=operation,
        )
    if operation == "redeem" and not store.redeems_loyalty:
        raise conflict(
            "store_not_participating",
            _("Rewards cannot be redeemed at the %(store)s store at the moment: the card was not changed.")
            % {"store": store.name},
            store=store.code,
            operation=operation,
        )


def require_stamps(program: LoyaltyProgram) -> None:
    if not program.uses_stamps:
        raise conflict("stamps_not_enabled", _("This program does not collect stamps."))


def require_points(program: LoyaltyProgram) -> None:
    if not program.uses_points:
        raise conflict("points_not_enabled", _("This program does not collect points."))


def save_card(card: LoyaltyCard, *fields: str) -> None:
    card.save(update_fields=[*fields, "updated_at"])


def record(card: LoyaltyCard, type_: str, **fields) -> LedgerResult:
    try:
        entry = write_ledger(card, type_, **fields)
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
        return conflict("idempotency_conflict", _("This Idempotency-Key was already used for another operation."))
    if fields.get("order_reference") and "order_reference" in problem:
        return duplicate_order(fields["order_reference"])
    return None


def write_ledger(
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


def clean_amount(value) -> Decimal:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise invalid("invalid_amount", _("The purchase amount is not a number.")) from exc
    if not amount.is_finite() or amount <= 0:
        raise invalid("invalid_amount", _("The purchase amount must be more than zero."))
    if amount > MAX_PURCHASE_AMOUNT:
        raise invalid("invalid_amount", _("The purchase amount cannot exceed €%(max)s.") % {"max": MAX_PURCHASE_AMOUNT})
    if amount != amount.quantize(Decimal("0.01")):
        raise invalid("invalid_amount", _("The purchase amount has at most two decimals."))
    return amount


def clean_points(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid("invalid_amount", "Points are a whole number.")
    if value <= 0 or value > MAX_POINTS_PER_OPERATION:
        raise invalid("invalid_amount", f"Points must be between 1 and {MAX_POINTS_PER_OPERATION}.")
    return value


def duplicate_order(order_reference: str) -> LoyaltyError:
    return conflict(
        "duplicate_order",
        _("Order %(order)s already earned points.") % {"order": order_reference},
        order_reference=order_reference,
    )


def human_wait(seconds: int) -> str:
    if seconds < 60:
        return ngettext("%(count)d second", "%(count)d seconds", seconds) % {"count": seconds}
    minutes = math.ceil(seconds / 60)
    return ngettext("%(count)d minute", "%(count)d minutes", minutes) % {"count": minutes}
