"""The roll-ups behind the summary: equal to the figures read from the ledger and the cards, always.

A random ledger (two programs, two stores, every kind of row, visits written out of day order, cards
moved to another store and deleted, rows and cards written after the job's mark) is summed three
ways: from the ledger and cards alone (no roll-up), through the minute job's increments, and after
``rebuild_insights``; all three must give the same answer, for several periods and every store, and
the member and liability figures must match their SPEC definitions computed here in plain Python.
"""

import datetime
import importlib
import io
import random
import types
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from insights.figures import summary
from insights.models import EnrollmentDay, LedgerDay, LedgerStoreDay, ProgramPoints, RollupState, VisitRuns
from insights.periods import Period, local_tz
from insights.rollup import rebuild, roll_up
from loyalty import services
from loyalty.models import LoyaltyCard, LoyaltyTransaction
from merchants.models import Merchant, Store
from tests.factories import ProgramFactory, StaffMemberFactory, StoreFactory
from tests.insights.conftest import PARIS, Type, card_on, row
from tests.support import ON_POSTGRES, postgres_only

FIRST_DAY = datetime.date(2025, 9, 1)
LAST_DAY = datetime.date(2026, 1, 31)
PERIODS = [
    Period(datetime.date(2026, 1, 2), LAST_DAY),  # 30 days
    Period(datetime.date(2025, 11, 3), LAST_DAY),  # 90 days
    Period(datetime.date(2025, 2, 1), LAST_DAY),  # 365 days, longer than the ledger
    Period(datetime.date(2025, 10, 1), datetime.date(2025, 10, 20)),  # in the past, runs straddle its end
    Period(datetime.date(2025, 12, 24), datetime.date(2025, 12, 24)),  # one day
]
VISITS = (Type.STAMP, Type.POINTS_EARN)


def _when(rng: random.Random, first: datetime.date, last: datetime.date) -> datetime.datetime:
    """A local time between two days, often next to midnight (where UTC and local days differ)."""
    day = first + datetime.timedelta(days=rng.randint(0, (last - first).days))
    hour, minute = rng.choice([(0, 20), (0, 50), (23, 10), (23, 55), (9, 0), (12, 30), (18, 45)])
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=PARIS)


def write_rows(rng, cards, stores, staff, count, first=FIRST_DAY, last=LAST_DAY) -> None:
    """``count`` random ledger rows on live cards, days in random order, balances kept (the ledger invariant)."""
    live = [card for card in cards if card.deleted_at is None]
    for _ in range(count):
        card = rng.choice(live)
        when = _when(rng, first, last)
        store = rng.choice([*stores, None]) if rng.random() < 0.2 else rng.choice(stores)
        who = rng.choice(staff) if store is not None else None
        kind = rng.choices(
            ["stamp", "earn", "redeem", "stamp_redeem", "void", "adjust", "expire", "import"],
            weights=[30, 30, 6, 5, 5, 5, 3, 2],
        )[0]
        balance = card.points_balance
        if kind == "stamp":
            row(card, Type.STAMP, when, stamps=1, store=store, staff=who)
        elif kind == "earn":
            row(card, Type.POINTS_EARN, when, points=rng.randint(1, 40), store=store, staff=who)
        elif kind == "redeem" and balance >= 5:
            row(card, Type.POINTS_REDEEM, when, points=-rng.randint(5, balance), store=store, staff=who)
        elif kind == "stamp_redeem" and card.stamp_count >= 2:
            row(card, Type.STAMP_REDEEM, when, stamps=-2, store=store, staff=who)
        elif kind == "void" and balance:
            row(card, Type.POINTS_VOID, when, points=-rng.randint(1, balance), store=store, staff=who)
        elif kind == "adjust":
            points = rng.randint(-min(balance, 10), 10) or 3
            row(card, Type.POINTS_ADJUST, when, points=points, store=store, staff=who, reason="correction")
        elif kind == "expire" and balance:
            row(card, Type.POINTS_EXPIRE, when, points=-balance, reason="No activity")
        elif kind == "import":
            row(card, Type.POINTS_IMPORT, when, points=25, reason="Opening balance")
        else:
            row(card, Type.STAMP, when, stamps=1, store=store, staff=who)


def new_cards(rng, programs, stores, count, first=FIRST_DAY - datetime.timedelta(days=40), last=LAST_DAY) -> list:
    cards = []
    for _ in range(count):
        card = card_on(rng.choice(programs), rng.choice([*stores, None]), _when(rng, first, last))
        row(card, Type.WELCOME_BONUS, card.created_at, points=10, store=card.enrolled_at_store)
        cards.append(card)
    return cards


@pytest.fixture
def random_ledger(db, request):
    seed = getattr(request, "param", 1)
    rng = random.Random(seed)
    alpha = ProgramFactory(merchant__slug="alpha", point_value=Decimal("0.05"))
    merchant = alpha.merchant
    # A second program (an older one) whose point is worth another amount: valued on its own.
    beta = ProgramFactory(merchant=merchant, name="Old club", point_value=Decimal("0.013"), is_active=False)
    stores = [StoreFactory(merchant=merchant, code="main", name="Main"), StoreFactory(merchant=merchant, code="kiosk")]
    staff = [StaffMemberFactory(merchant=merchant, stores=stores) for _ in range(3)]
    cards = new_cards(rng, [alpha, beta], stores, 24)
    write_rows(rng, cards, stores, staff, 260)
    # Another merchant, busy on the same days, never counted.
    other = ProgramFactory(merchant__slug="zebra")
    other_store = StoreFactory(merchant=other.merchant, code="zebra")
    other_staff = [StaffMemberFactory(merchant=other.merchant, stores=[other_store])]
    write_rows(rng, new_cards(rng, [other], [other_store], 5), [other_store], other_staff, 40)
    return {
        "rng": rng,
        "merchant": merchant,
        "programs": [alpha, beta],
        "stores": stores,
        "staff": staff,
        "cards": cards,
    }


def answers(merchant, stores) -> dict:
    """Every summary of the merchant for PERIODS and each store (and none), as the API answers it."""
    return {
        (period, store.code if store else None): summary(merchant=merchant, period=period, store=store).as_json()
        for period in PERIODS
        for store in [None, *stores]
    }


def from_sources(merchant, stores) -> dict:
    """The same answers with no roll-up at all: the state row gone, every figure reads the ledger and cards."""
    state = RollupState.objects.filter(pk=1).first()
    RollupState.objects.filter(pk=1).delete()
    try:
        return answers(merchant, stores)
    finally:
        if state is not None:
            state.save(force_insert=True)


def by_definition(merchant, period: Period, store) -> dict:
    """Members, visits and points outstanding as SPEC defines them, in plain Python over every row."""
    cards = list(LoyaltyCard.objects.filter(merchant=merchant).select_related("program"))
    rows = list(LoyaltyTransaction.objects.filter(merchant=merchant, type__in=VISITS))
    local = lambda moment: moment.astimezone(local_tz()).date()  # noqa: E731
    visits = defaultdict(list)
    for ledger_row in rows:
        if store is None or ledger_row.store_id == store.pk:
            visits[ledger_row.card_id].append(local(ledger_row.created_at))

    def members_with(first: datetime.date, at_least: int) -> int:
        return sum(1 for days in visits.values() if sum(first <= d <= period.end for d in days) >= at_least)

    here = [card for card in cards if store is None or card.enrolled_at_store_id == store.pk]
    once, repeat = members_with(period.start, 1), members_with(period.start, 2)
    new_per_day = defaultdict(int)
    new_per_store = defaultdict(int)
    for card in here:
        if period.start <= local(card.created_at) <= period.end:
            new_per_day[local(card.created_at).isoformat()] += 1
            new_per_store[card.enrolled_at_store.code if card.enrolled_at_store else None] += 1
    live = [card for card in cards if card.deleted_at is None]
    per_value = defaultdict(int)
    for card in live:
        per_value[card.program.point_value] += card.points_balance
    amount = sum(
        ((Decimal(p) * value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) for value, p in per_value.items()),
        Decimal("0.00"),
    )
    return {
        "members": {
            "total": sum(1 for card in here if card.deleted_at is None and local(card.created_at) <= period.end),
            "new": sum(new_per_day.values()),
            "active_30d": members_with(period.end - datetime.timedelta(days=29), 1),
            "active_90d": members_with(period.end - datetime.timedelta(days=89), 1),
        },
        "visits": sum(period.start <= d <= period.end for days in visits.values() for d in days),
        "repeat_visit_rate": round(repeat / once, 4) if once else 0.0,
        "outstanding": sum(card.points_balance for card in live),
        "amount": str(amount),
        "new_per_day": dict(new_per_day),
        "new_per_store": dict(new_per_store),
    }


def assert_by_definition(merchant, stores, got: dict) -> None:
    for period in PERIODS:
        for store in [None, *stores]:
            body = got[(period, store.code if store else None)]
            want = by_definition(merchant, period, store)
            where = f"{period} {store.code if store else 'all stores'}"
            assert body["members"] == want["members"], where
            assert body["visits"] == want["visits"], where
            assert body["repeat_visit_rate"] == want["repeat_visit_rate"], where
            assert body["points"]["outstanding"] == want["outstanding"], where
            assert body["liability"]["amount"] == want["amount"], where
            assert {d["date"]: d["new_members"] for d in body["daily"] if d["new_members"]} == want["new_per_day"]
            assert {r["store"]: r["new_members"] for r in body["by_store"] if r["new_members"]} == want["new_per_store"]


def changes_after_the_mark(data) -> None:
    """Rows and cards written after the job's mark: late visits between older ones, a new card,
    a rolled-up card moved to the other store, another deleted with its points."""
    rng, stores = data["rng"], data["stores"]
    fresh = new_cards(rng, data["programs"], stores, 3)
    data["cards"] += fresh
    write_rows(rng, data["cards"], stores, data["staff"], 60)
    moved = next(c for c in data["cards"][:24] if c.enrolled_at_store_id == stores[0].pk and c.deleted_at is None)
    services.update_card(card=moved, is_active=True, enrolled_at_store=stores[1])
    moved_new = fresh[0]  # above the cards' mark: the job counts it at its new store
    services.update_card(card=moved_new, is_active=True, enrolled_at_store=stores[0])
    gone = max((c for c in data["cards"][:24] if c.deleted_at is None), key=lambda c: c.points_balance)
    assert gone.points_balance > 0
    services.soft_delete_cards(card_ids=[gone.pk])
    for card in data["cards"]:
        card.refresh_from_db()


@pytest.mark.parametrize("random_ledger", [1, 2, 3], indirect=True)
def test_job_and_rebuild_equal_the_ledger_on_a_random_ledger(random_ledger):
    data = random_ledger
    merchant, stores = data["merchant"], data["stores"]
    reference = from_sources(merchant, stores)
    assert_by_definition(merchant, stores, reference)

    roll_up()  # sees the newest ids
    roll_up()  # rolls them up
    assert answers(merchant, stores) == reference

    changes_after_the_mark(data)
    reference = from_sources(merchant, stores)
    assert_by_definition(merchant, stores, reference)
    assert answers(merchant, stores) == reference  # rolled up to the mark, the rest read live
    roll_up()
    assert answers(merchant, stores) == reference
    roll_up()  # now everything is rolled up by the job's increments
    assert RollupState.objects.get().card_last_id == max(c.pk for c in data["cards"])
    assert answers(merchant, stores) == reference
    by_job = rollup_tables(merchant)

    rebuild()
    assert answers(merchant, stores) == reference
    assert rollup_tables(merchant) == by_job  # the increments built what the rebuild builds


def rollup_tables(merchant) -> dict:
    """The new roll-ups' content, rows that sum to nothing left out (a moved card leaves a zero)."""
    enrolled = defaultdict(int)
    for day, store, cards in EnrollmentDay.objects.filter(merchant=merchant).values_list("day", "store", "cards"):
        enrolled[(day, store)] += cards
    runs = VisitRuns.objects.filter(merchant=merchant).exclude(runs=0)
    return {
        "enrolled": {key: n for key, n in enrolled.items() if n},
        "points": dict(ProgramPoints.objects.filter(merchant=merchant).values_list("program", "points")),
        "runs": sorted(runs.values_list("store_key", "lag", "first_day", "last_day", "runs")),
    }


def test_rebuild_insights_recomputes_damaged_rollups(random_ledger):
    merchant, stores = random_ledger["merchant"], random_ledger["stores"]
    reference = from_sources(merchant, stores)
    rebuild()
    call_command("rebuild_insights", "--merchant", "alpha", stdout=io.StringIO())
    assert answers(merchant, stores) == reference
    ProgramPoints.objects.filter(merchant=merchant).update(points=0)
    EnrollmentDay.objects.filter(merchant=merchant).update(cards=7)
    VisitRuns.objects.filter(merchant=merchant, lag=1).delete()
    assert answers(merchant, stores) != reference
    call_command("rebuild_insights", stdout=io.StringIO())
    assert answers(merchant, stores) == reference


def test_a_first_rebuild_of_one_merchant_leaves_the_others_exact(random_ledger):
    """Nothing rolled up yet: rebuilding one merchant must not move the marks past the others' rows."""
    merchant, stores = random_ledger["merchant"], random_ledger["stores"]
    zebra = Merchant.objects.get(slug="zebra")
    zebra_stores = list(Store.objects.filter(merchant=zebra))
    references = {"alpha": from_sources(merchant, stores), "zebra": from_sources(zebra, zebra_stores)}
    call_command("rebuild_insights", "--merchant", "alpha", stdout=io.StringIO())
    roll_up()
    assert answers(zebra, zebra_stores) == references["zebra"]
    roll_up()  # the job rolls every merchant up
    assert answers(zebra, zebra_stores) == references["zebra"]
    assert answers(merchant, stores) == references["alpha"]


def test_points_outstanding_follow_the_ledger_after_the_mark(random_ledger):
    data = random_ledger
    merchant, card = data["merchant"], data["cards"][0]
    rebuild()
    period = PERIODS[0]
    before = summary(merchant=merchant, period=period).outstanding_points
    row(card, Type.POINTS_EARN, datetime.datetime(2026, 1, 20, 10, tzinfo=PARIS), points=40, store=data["stores"][0])
    for _ in range(3):  # live, seen by the job, rolled up
        assert summary(merchant=merchant, period=period).outstanding_points == before + 40
        roll_up()
    services.soft_delete_cards(card_ids=[card.pk])
    card.refresh_from_db()
    assert summary(merchant=merchant, period=period).outstanding_points == before + 40 - card.points_balance


def test_a_moved_card_moves_its_enrollment(random_ledger):
    data = random_ledger
    merchant, (main, kiosk) = data["merchant"], data["stores"]
    card = next(c for c in data["cards"] if c.enrolled_at_store_id == main.pk)
    rebuild()
    day = card.created_at.astimezone(local_tz()).date()
    period = Period(day, day)

    def new_members(store):
        return summary(merchant=merchant, period=period, store=store).members["new"]

    main_before, kiosk_before = new_members(main), new_members(kiosk)
    services.update_card(card=card, is_active=True, enrolled_at_store=kiosk)
    assert (new_members(main), new_members(kiosk)) == (main_before - 1, kiosk_before + 1)
    rebuild()
    assert (new_members(main), new_members(kiosk)) == (main_before - 1, kiosk_before + 1)


def test_the_migration_fills_the_new_rollups_up_to_the_marks(random_ledger):
    """Where the roll-up already ran before the new tables existed, the migration fills them."""
    merchant, stores = random_ledger["merchant"], random_ledger["stores"]
    reference = from_sources(merchant, stores)
    rebuild()
    built = rollup_tables(merchant)
    for model in (EnrollmentDay, ProgramPoints, VisitRuns):
        model.objects.all().delete()
    RollupState.objects.update(card_last_id=0, card_seen_id=0)
    migration = importlib.import_module("insights.migrations.0002_enrollments_points_visit_runs")
    # What the migration's RunPython is handed (SQLite's real schema editor refuses to open inside a test's transaction).
    editor = types.SimpleNamespace(connection=connection, execute=lambda sql: connection.cursor().execute(sql))
    migration.fill_to_the_marks(apps, editor)
    assert rollup_tables(merchant) == (built if ON_POSTGRES else {**built, "runs": []})
    assert answers(merchant, stores) == reference


@postgres_only
def test_the_summary_reads_no_card_or_ledger_row_of_the_window(random_ledger):
    """With the roll-ups in place, cards and ledger rows are read only after the marks, or the deleted cards."""
    merchant, stores = random_ledger["merchant"], random_ledger["stores"]
    rebuild()
    with CaptureQueriesContext(connection) as queries:
        summary(merchant=merchant, period=PERIODS[2], store=stores[0])
    for query in queries.captured_queries:
        sql = query["sql"]
        if 'FROM "loyalty_loyaltycard"' in sql:
            assert '"loyalty_loyaltycard"."id" >' in sql or '"deleted_at" IS NOT NULL' in sql, sql
        if 'FROM "loyalty_loyaltytransaction"' in sql:
            assert '"loyalty_loyaltytransaction"."id" >' in sql, sql
        if "insights_cardvisits" in sql:
            assert "card_id = ANY" in sql, sql


def store_days(model, merchant) -> dict:
    """A day roll-up summed per (day, store, type), cells of nothing left out."""
    cells = defaultdict(lambda: [0] * 5)
    for cell in model.objects.filter(merchant=merchant).values_list(
        "day", "store", "type", "rows", "points_in", "points_out", "stamps_in", "stamps_out"
    ):
        for i, value in enumerate(cell[3:]):
            cells[cell[:3]][i] += value
    return {key: sums for key, sums in cells.items() if any(sums)}


def test_the_store_days_are_the_days_without_the_staff_job_rebuild_and_migration(random_ledger):
    merchant, stores = random_ledger["merchant"], random_ledger["stores"]
    reference = from_sources(merchant, stores)
    roll_up()
    roll_up()  # the job: the first run sees, the second takes
    by_job = store_days(LedgerStoreDay, merchant)
    assert by_job and by_job == store_days(LedgerDay, merchant)
    rebuild()
    assert store_days(LedgerStoreDay, merchant) == store_days(LedgerDay, merchant)
    assert answers(merchant, stores) == reference
    LedgerStoreDay.objects.all().delete()
    migration = importlib.import_module("insights.migrations.0004_ledger_store_days")
    editor = types.SimpleNamespace(connection=connection, execute=lambda sql: connection.cursor().execute(sql))
    migration.fill(apps, editor)
    assert store_days(LedgerStoreDay, merchant) == store_days(LedgerDay, merchant)
    assert answers(merchant, stores) == reference
