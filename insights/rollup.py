"""Keeping the roll-ups current: the minute job and the rebuild from the ledger and the cards.

The job never touches the POS path: it reads ledger rows and cards by id, so every writer
(services, the set-based expiry, imports, bonuses to come) is counted without each having to
remember it. Ledger rows feed ``LedgerDay`` and ``LedgerStoreDay``, ``ProgramPoints``, ``CardVisits`` and ``VisitRuns``;
cards feed ``EnrollmentDay``.
"""

from collections.abc import Iterable

from django.db import connection, transaction
from django.db.models import Case, Count, F, IntegerField, Max, QuerySet, Sum, Value, When
from django.db.models.functions import Coalesce, TruncDate

from insights.enrollments import add_enrollments
from insights.models import CardVisits, EnrollmentDay, LedgerDay, LedgerStoreDay, ProgramPoints, RollupState, VisitRuns
from insights.outstanding import add_program_points
from insights.periods import local_tz
from insights.visits import add_card_visits
from loyalty.models import LoyaltyCard, LoyaltyTransaction

__all__ = ["ledger_facts", "local_tz", "marks", "rebuild", "roll_up", "rolled_up_through", "rollup_sums", "vacuum"]

SUMS = ("rows", "points_in", "points_out", "stamps_in", "stamps_out")


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


# Each day roll-up and the fact keys it is kept by.
DAY_ROLLUPS = {
    LedgerDay: ("merchant", "day", "store", "staff_user", "type"),
    LedgerStoreDay: ("merchant", "day", "store", "type"),
}


def _apply(facts: Iterable[dict]) -> int:
    """Add grouped ledger sums to the day roll-ups (the caller holds the state lock: one writer)."""
    facts = list(facts)
    if facts:
        for model, keys in DAY_ROLLUPS.items():
            _add(model, keys, _merged(facts, keys))
    return len(facts)


def _merged(facts: list[dict], keys: tuple[str, ...]) -> list[dict]:
    """The facts summed by ``keys`` (dropping the other dimensions)."""
    merged: dict[tuple, dict] = {}
    for fact in facts:
        key = tuple(fact[k] for k in keys)
        into = merged.setdefault(key, {**{k: fact[k] for k in keys}, **dict.fromkeys(SUMS, 0)})
        for name in SUMS:
            into[name] += fact[name]
    return list(merged.values())


def _add(model, keys: tuple[str, ...], facts: list[dict]) -> None:
    columns = [model._meta.get_field(k).attname for k in keys]
    days = {f["day"] for f in facts}
    merchants = {f["merchant"] for f in facts}
    existing = {
        tuple(getattr(r, c) for c in columns): r
        for r in model.objects.select_for_update().filter(merchant_id__in=merchants, day__in=days)
    }
    new, changed = [], []
    for fact in facts:
        row = existing.get(tuple(fact[k] for k in keys))
        if row is None:
            new.append(
                model(**{c: fact[k] for c, k in zip(columns, keys, strict=True)}, **{name: fact[name] for name in SUMS})
            )
        else:
            for name in SUMS:
                setattr(row, name, getattr(row, name) + fact[name])
            changed.append(row)
    model.objects.bulk_create(new, batch_size=2000)
    model.objects.bulk_update(changed, list(SUMS), batch_size=2000)


def _newest(model) -> int:
    return model.objects.aggregate(m=Max("id"))["m"] or 0


def roll_up() -> int:
    """Add the ledger rows and cards committed since the last run; returns the ledger rows rolled up."""
    with transaction.atomic():
        state = _state()
        if connection.vendor == "postgresql":
            # A minute's rows: statements of milliseconds, which JIT compilation (~50 ms a statement)
            # would only slow down when the planner overestimates a range of fresh ids.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL jit = off")
        upto = state.seen_id
        rolled = 0
        if upto > state.last_id:
            window = LoyaltyTransaction.objects.filter(id__gt=state.last_id, id__lte=upto)
            facts = list(ledger_facts(window, "merchant", "day", "store", "staff_user"))
            rolled = sum(f["rows"] for f in facts)
            _apply(facts)
            add_program_points(state.last_id, upto)
            add_card_visits(state.last_id, upto)
            state.last_id = upto
        if state.card_seen_id > state.card_last_id:
            add_enrollments(state.card_last_id, state.card_seen_id)
            state.card_last_id = state.card_seen_id
        state.seen_id = _newest(LoyaltyTransaction)
        state.card_seen_id = _newest(LoyaltyCard)
        state.save()
        return rolled


def rebuild(merchant_id: int | None = None) -> int:
    """Recompute the roll-ups from the ledger and the cards (one merchant or all); returns the day rows written.

    Everything up to the current marks (``last_id``, ``card_last_id``) is recomputed; on a first
    run for all merchants (nothing rolled up yet) up to the newest ledger row and card. What is
    after them stays for the job (the figures read it live).
    """
    with transaction.atomic():
        state = _state()
        if merchant_id is None:
            # A first run rolls everything up to now. Not for one merchant: the others' roll-ups
            # would then miss everything under the new marks (with a mark at 0 the job rolls up).
            if state.last_id == 0:
                state.last_id = state.seen_id = _newest(LoyaltyTransaction)
            if state.card_last_id == 0:
                state.card_last_id = state.card_seen_id = _newest(LoyaltyCard)
            state.save()
        rows = LoyaltyTransaction.objects.filter(id__lte=state.last_id)
        if merchant_id is not None:
            rows = rows.filter(merchant_id=merchant_id)
        for model in (*DAY_ROLLUPS, CardVisits, VisitRuns, ProgramPoints, EnrollmentDay):
            derived = model.objects.all()
            if merchant_id is not None:
                derived = derived.filter(merchant_id=merchant_id)
            derived.delete()  # one DELETE each: nothing points at these rows
        add_card_visits(0, state.last_id, merchant_id)
        add_program_points(0, state.last_id, merchant_id)
        add_enrollments(0, state.card_last_id, merchant_id)
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
        fill_store_days(connection, merchant_id)
        return written + len(batch)


def fill_store_days(connection, merchant_id: int | None = None) -> None:
    """LedgerStoreDay from LedgerDay, one statement (the rebuild, the migration that added it)."""
    where, params = ("WHERE merchant_id = %s", [merchant_id]) if merchant_id is not None else ("", [])
    sums = ", ".join(SUMS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO insights_ledgerstoreday (merchant_id, day, store_id, type, {sums}) "
            f"SELECT merchant_id, day, store_id, type, {', '.join(f'SUM({name})' for name in SUMS)} "
            f"FROM insights_ledgerday {where} GROUP BY merchant_id, day, store_id, type",
            params,
        )


ROLLUP_TABLES = [model._meta.db_table for model in (*DAY_ROLLUPS, CardVisits, VisitRuns, ProgramPoints, EnrollmentDay)]


def vacuum() -> None:
    """VACUUM ANALYZE the roll-ups after a rebuild (PostgreSQL, outside a transaction; elsewhere nothing).

    A rebuild writes every row anew: until vacuum marks their pages all-visible, an index-only read
    of the roll-ups visits the table for each row (seen: 3 to 5 times slower).
    """
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return
    with connection.cursor() as cursor:
        for table in ROLLUP_TABLES:
            cursor.execute(f"VACUUM (ANALYZE) {connection.ops.quote_name(table)}")


def marks() -> RollupState:
    """The roll-ups' marks (``last_id`` for the ledger, ``card_last_id`` for the cards; zeros before any run)."""
    return RollupState.objects.filter(pk=1).first() or RollupState(pk=1)


def rolled_up_through() -> int:
    return marks().last_id
