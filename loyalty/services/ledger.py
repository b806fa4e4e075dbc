"""What every balance change shares: the card lock, the ledger row, the input checks."""

import datetime
import functools
import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import IntegrityError, connection
from django.db.models import OuterRef, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from core.errors import LoyaltyError, conflict, invalid
from core.prepared import PreparedQuery, insert_values
from loyalty.models import LoyaltyCard, LoyaltyProgram, LoyaltyTransaction
from merchants.models import StaffMember, Store
from merchants.pins import proves_pin
from wallet.outbox import nudge_after_commit, pending_insert_sql, schedule_pass_updates

Type = LoyaltyTransaction.Type

MAX_PURCHASE_AMOUNT = Decimal(settings.LOYALTY_MAX_PURCHASE_AMOUNT)
MAX_POINTS_PER_OPERATION = 1_000_000
MAX_STAMPS_PER_ADJUSTMENT = 1_000


@dataclass(frozen=True)
class LedgerResult:
    transaction: LoyaltyTransaction
    card: LoyaltyCard
    replayed: bool = False


@dataclass(frozen=True)
class CardAtTill:
    """A card as the till names it: its number at the staff member's merchant, not read yet.

    ``lock_card`` reads and locks it in one query, and there applies the program's PIN rule to
    the PIN the cashier typed, checked on the staff row the token already loaded. So a POS
    operation reads the card once, and a right PIN costs no query.
    """

    merchant_id: int
    card_number: str
    staff: StaffMember | None = None
    pin: str | None = None


class PinNotProven(Exception):
    """The program wants a PIN and the staff row in hand does not prove it (a wrong PIN, a lockout,
    failures to clear): the caller runs ``merchants.pins.verify_pin`` after the rollback, which
    counts the attempt and says why, or clears old failures so the operation can run again."""


def card_not_found() -> LoyaltyError:
    return LoyaltyError("card_not_found", _("No card with this number at your merchant."), status=404)


def _lock_query(by_number: bool, with_key: bool) -> PreparedQuery:
    """The card's lock query: by number at a merchant (the till) or by id, with or without the replay check."""

    def build(merchant_id=None, card_number=None, card_id=None, key=None):
        cards = LoyaltyCard.objects.select_for_update(of=("self",), no_key=True).select_related(
            "program", "merchant", "tier", "customer"
        )
        if with_key:
            applied = LoyaltyTransaction.objects.filter(merchant_id=OuterRef("merchant_id"), idempotency_key=key)
            cards = cards.annotate(applied_id_=Subquery(applied.values("pk")[:1]))
        if by_number:
            return cards.filter(merchant_id=merchant_id, card_number=card_number, deleted_at__isnull=True)[:1]
        return cards.filter(pk=card_id)

    types = {"merchant_id": int, "card_number": str} if by_number else {"card_id": int}
    return PreparedQuery(build, **types, **({"key": str} if with_key else {}))


# Run on every balance change: each compiled once per process (core/prepared.py).
_LOCKS = {
    (by_number, with_key): _lock_query(by_number, with_key) for by_number in (True, False) for with_key in (True, False)
}


def lock_card(
    card: LoyaltyCard | CardAtTill, idempotency_key: str, type_: str, store: Store | None
) -> tuple[LoyaltyCard, LedgerResult | None]:
    """Lock the card row; answer a replay if this idempotency key was already applied.

    One query, with the card's program, merchant, tier and customer, and the id of the ledger
    row already written with this idempotency key, so a first request pays nothing to learn it
    is not a replay. Two requests with one key at the same moment are settled by the ledger's
    unique index (``record`` raises ``idempotency_conflict``; ``applies_once`` then answers with
    the first result).
    """
    if isinstance(card, CardAtTill):
        values = {"merchant_id": card.merchant_id, "card_number": card.card_number}
    else:
        values = {"card_id": card.pk}
    if idempotency_key:
        values["key"] = idempotency_key
    found = _LOCKS[isinstance(card, CardAtTill), bool(idempotency_key)](**values)
    if not found:
        raise card_not_found()
    locked = found[0]
    if getattr(locked, "applied_id_", None) is not None:
        previous = LoyaltyTransaction.objects.get(pk=locked.applied_id_)
        if previous.card_id != locked.pk or previous.type != type_:
            raise conflict("idempotency_conflict", _("This Idempotency-Key was already used for another operation."))
        return locked, LedgerResult(transaction=previous, card=locked, replayed=True)
    if isinstance(card, CardAtTill) and locked.program.require_staff_pin:
        if not card.pin:
            raise LoyaltyError("pin_required", _("Enter your staff PIN."), status=400)
        if card.staff is None or not proves_pin(card.staff, card.pin):
            raise PinNotProven
    if store is not None and store.merchant_id != locked.merchant_id:
        raise invalid("unknown_store", _("That store does not belong to this card's merchant."))
    if not (locked.is_active and locked.deleted_at is None):
        raise conflict("card_inactive", _("This card is deactivated."))
    if not (locked.program.is_active and locked.merchant.is_active):
        raise conflict("card_inactive", _("This card's loyalty program is not active."))
    return locked, None


def applied_with_key(*, merchant_id: int, key: str) -> LedgerResult | None:
    """The operation this merchant's ledger holds under an idempotency key, with its card as it is now."""
    previous = (
        LoyaltyTransaction.objects.select_related("card__program", "card__merchant", "card__tier", "card__customer")
        .filter(merchant_id=merchant_id, idempotency_key=key)
        .first()
    )
    if previous is None:
        return None
    return LedgerResult(transaction=previous, card=previous.card, replayed=True)


def applies_once(*types: str):
    """Make a balance-change service answer a repeated idempotency key with the first operation.

    ``lock_card`` sees a key applied before this request started. A repeat running at the same
    moment waits on the card's lock and then either hits the ledger's unique index or a rule
    the first operation changed (a cooldown, a balance): its transaction is rolled back, and
    if the ledger holds this key for this card and operation, that is the answer, ``replayed``.
    """

    def decorate(service):
        @functools.wraps(service)
        def run(*, card, idempotency_key: str = "", **kwargs) -> LedgerResult:
            try:
                return service(card=card, idempotency_key=idempotency_key, **kwargs)
            except LoyaltyError:
                if not idempotency_key:
                    raise
                first = applied_with_key(merchant_id=card.merchant_id, key=idempotency_key)
                if first is None or first.transaction.type not in types or not _same_card(first.card, card):
                    raise
                return first

        return run

    return decorate


def _same_card(found: LoyaltyCard, card: LoyaltyCard | CardAtTill) -> bool:
    if isinstance(card, CardAtTill):
        return found.card_number == card.card_number
    return found.pk == card.pk


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


def record(card: LoyaltyCard, type_: str, *, saving: tuple[str, ...] = (), **fields) -> LedgerResult:
    """Save the card's ``saving`` fields, write its ledger row and schedule its wallet pass update.

    On PostgreSQL the three are one statement (one round trip on every stamp, earn and
    redemption); on SQLite three.
    """
    entry = new_ledger_row(card, type_, **fields)
    try:
        if connection.vendor == "postgresql":
            _write_in_one_statement(card, saving, entry)
        else:
            if saving:
                save_card(card, *saving)
            entry.save(force_insert=True)
            schedule_pass_updates([card.pk])
    except IntegrityError as exc:
        # Another card took the same key or order reference at this very moment: the unique
        # indexes decide, and the loser gets the domain error. Raising it aborts this
        # operation's transaction (or its savepoint, when nested), so no savepoint of its own.
        error = _unique_violation(exc, fields)
        if error is None:
            raise
        raise error from exc
    return LedgerResult(transaction=entry, card=card)


def _write_in_one_statement(card: LoyaltyCard, saving: tuple[str, ...], entry: LoyaltyTransaction) -> None:
    """``UPDATE`` the card, ``INSERT`` its ledger row and its pending pass update, in one ``WITH`` statement."""
    quote = connection.ops.quote_name
    parts, params = [], []
    if saving:
        changed = [LoyaltyCard._meta.get_field(name) for name in (*saving, "updated_at")]
        parts.append(
            f"card AS (UPDATE {quote(LoyaltyCard._meta.db_table)} "
            f"SET {', '.join(f'{quote(field.column)} = %s' for field in changed)} WHERE {quote(LoyaltyCard._meta.pk.column)} = %s)"
        )
        params += [field.get_db_prep_save(field.pre_save(card, False), connection) for field in changed] + [card.pk]
    insert_sql, insert_params = insert_values(entry, connection)
    parts.append(f"entry AS ({insert_sql} RETURNING {quote(LoyaltyTransaction._meta.pk.column)})")
    params += insert_params
    pending_sql, pending_params = pending_insert_sql(card.pk)
    parts.append(f"pending AS ({pending_sql})")
    params += pending_params
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {', '.join(parts)} SELECT (SELECT id FROM entry), (SELECT count(*) FROM pending)", params)
        entry.pk, newly_pending = cursor.fetchone()
    entry._state.adding, entry._state.db = False, connection.alias
    if newly_pending:
        nudge_after_commit([card.pk])


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


def new_ledger_row(
    card: LoyaltyCard,
    type_: str,
    *,
    stamps_delta: int = 0,
    points_delta: int = 0,
    now: datetime.datetime | None = None,
    **fields,
) -> LoyaltyTransaction:
    """The card's ledger row for a change already applied to it (not saved)."""
    return LoyaltyTransaction(
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


def write_ledger(card: LoyaltyCard, type_: str, **fields) -> LoyaltyTransaction:
    entry = new_ledger_row(card, type_, **fields)
    entry.save(force_insert=True)
    return entry


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
