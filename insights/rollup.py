"""Keeping ``LedgerDay`` current: the minute job and the rebuild from the ledger.

The job never touches the POS path: it reads ledger rows by id, so every writer (services,
the set-based expiry, imports, bonuses to come) is counted without each having to remember it.
"""

from collections.abc import Iterable
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import Case, Count, F, IntegerField, Max, QuerySet, Sum, Value, When
from django.db.models.functions import Coalesce, TruncDate

from insights.models import CardVisits, LedgerDay, RollupState
from loyalty.models import LoyaltyTransaction

SUMS = ("rows", "points_in", "points_out", "stamps_in", "stamps_out")


def local_tz() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def _positive(field: str):
    return Coalesce(Sum(Case(When(**{f"{field}__gt": 0}, then=F(field)), default=Value(0))), 0)


def _negative(field: str):
    return Coalesce(Sum(Case(When(**{f"{field}__lt": 0}, then=-F(field)), default=Value(0))), 0)


def ledger_sums() -> dict:
    """The roll-up's sums as aggregates over ledger rows."""
    return {
        "rows": Count("id"),
        "points_in": _positive("points_delta"),
        "points_out": _negative("points_delta"),
        "stamps_in": _positive("stamps_delta"),
        "stamps_out": _negative("stamps_delta"),
    }


def rollup_sums() -> dict:
    return {name: Coalesce(Sum(name), 0, output_field=IntegerField()) for name in SUMS}


def ledger_facts(rows: QuerySet, *dims: str) -> QuerySet:
    """Ledger rows grouped by ``dims`` (among ``merchant``, ``day``, ``store``, ``staff_user``) and type.

    ``day`` is the local day in ``TIME_ZONE``. ``order_by()`` drops the ledger's default ordering,
    which would otherwise split the groups.
    """
    rows = rows.order_by()
    if "day" in dims:
        rows = rows.annotate(day=TruncDate("created_at", tzinfo=local_tz()))
    return rows.values(*dims, "type").annotate(**ledger_sums())


def _state() -> RollupState:
    state, _ = RollupState.objects.get_or_create(pk=1)
    return RollupState.objects.select_for_update().get(pk=state.pk)


def _apply(facts: Iterable[dict]) -> int:
    """Add grouped ledger sums to the roll-up (the caller holds the state lock: one writer)."""
    facts = list(facts)
    if not facts:
        return 0
    key = lambda f: (f["merchant"], f["day"], f["store"], f["staff_user"], f["type"])  # noqa: E731
    days = {f["day"] for f in facts}
    merchants = {f["merchant"] for f in facts}
    existing = {
        (r.merchant_id, r.day, r.store_id, r.staff_user_id, r.type): r
        for r in LedgerDay.objects.select_for_update().filter(merchant_id__in=merchants, day__in=days)
    }
    new, changed = [], []
    for fact in facts:
        row = existing.get(key(fact))
        if row is None:
            new.append(
                LedgerDay(
                    merchant_id=fact["merchant"],
                    day=fact["day"],
                    store_id=fact["store"],
                    staff_user_id=fact["staff_user"],
                    type=fact["type"],
                    **{name: fact[name] for name in SUMS},
                )
            )
        else:
            for name in SUMS:
                setattr(row, name, getattr(row, name) + fact[name])
            changed.append(row)
    LedgerDay.objects.bulk_create(new, batch_size=2000)
    LedgerDay.objects.bulk_update(changed, list(SUMS), batch_size=2000)
    return len(facts)


def roll_up() -> int:
    """Add the ledger rows committed since the last run; returns the rows rolled up."""
    with transaction.atomic():
        state = _state()
        upto = state.seen_id
        rolled = 0
        if upto > state.last_id:
            window = LoyaltyTransaction.objects.filter(id__gt=state.last_id, id__lte=upto)
            facts = list(ledger_facts(window, "merchant", "day", "store", "staff_user"))
            rolled = sum(f["rows"] for f in facts)
            _apply(facts)
            add_card_visits(state.last_id, upto)
            state.last_id = upto
        state.seen_id = LoyaltyTransaction.objects.aggregate(m=Max("id"))["m"] or 0
        state.save()
        return rolled


def rebuild(merchant_id: int | None = None) -> int:
    """Recompute the roll-up from the ledger (one merchant or all); returns the roll-up rows written.

    Everything up to the current ``last_id`` is recomputed; on a first run (nothing rolled up yet)
    up to the newest ledger row. Rows after it stay for the job (the figures read them live).
    """
    with transaction.atomic():
        state = _state()
        if state.last_id == 0:
            state.last_id = state.seen_id = LoyaltyTransaction.objects.aggregate(m=Max("id"))["m"] or 0
            state.save()
        days = LedgerDay.objects.all()
        visits = CardVisits.objects.all()
        rows = LoyaltyTransaction.objects.filter(id__lte=state.last_id)
        if merchant_id is not None:
            days = days.filter(merchant_id=merchant_id)
            visits = visits.filter(merchant_id=merchant_id)
            rows = rows.filter(merchant_id=merchant_id)
        days.delete()
        visits.delete()  # one DELETE: nothing points at these rows
        add_card_visits(0, state.last_id, merchant_id)
        written = 0
        batch = []
        for fact in ledger_facts(rows, "merchant", "day", "store", "staff_user").iterator(chunk_size=5000):
            batch.append(
                LedgerDay(
                    merchant_id=fact["merchant"],
                    day=fact["day"],
                    store_id=fact["store"],
                    staff_user_id=fact["staff_user"],
                    type=fact["type"],
                    **{name: fact[name] for name in SUMS},
                )
            )
            if len(batch) >= 5000:
                LedgerDay.objects.bulk_create(batch)
                written += len(batch)
                batch = []
        LedgerDay.objects.bulk_create(batch)
        return written + len(batch)


def add_card_visits(low: int, high: int, merchant_id: int | None = None) -> None:
    from insights.visits import add_card_visits as add

    add(low, high, merchant_id)


def rolled_up_through() -> int:
    state = RollupState.objects.filter(pk=1).first()
    return state.last_id if state else 0
