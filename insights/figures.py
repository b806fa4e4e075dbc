"""Every insights figure, computed in one place: the API, the admin page and the CSVs call these.

Definitions (../shared/SPEC.md, "Merchant insights and liability"; printed on the page):
- a **visit** is a ``stamp`` or ``points_earn`` ledger row;
- **points issued** = the sum of positive points deltas (earns, bonuses, imports, positive
  adjustments); **redeemed** / **expired** = the absolute sums of ``points_redeem`` /
  ``points_expire``; **voided** = the absolute sum of every other negative delta (``points_void``
  and negative adjustments): each points movement is in exactly one of the four;
- **stamps issued** = positive stamps deltas; **stamps redeemed** = stamps taken by redemptions;
- **rewards redeemed** = redemption rows (``stamp_redeem`` and ``points_redeem``);
- **outstanding** = the points balances of live (not deleted) cards now; its value is
  points x the program's ``point_value``.

Every figure reads a roll-up up to the job's marks plus the ledger rows and cards after them
(``insights.models``): additive ledger figures ``LedgerDay``; members with visits (active, repeat)
``VisitRuns`` (``insights.visits``); new members and members total ``EnrollmentDay``
(``insights.enrollments``); points outstanding ``ProgramPoints`` (``insights.outstanding``).
On PostgreSQL none reads the merchant's cards or the period's ledger rows one by one (on SQLite
the member figures read the ledger's visits index).
"""

import datetime
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db.models import Sum
from django.db.models.functions import TruncMonth

from core.plans import planned_for_values
from insights.enrollments import enrolled as enrolled_cards
from insights.models import LedgerDay, LedgerStoreDay, RollupState
from insights.outstanding import money, outstanding
from insights.periods import Period
from insights.rollup import ledger_facts, local_tz, marks, rolled_up_through, rollup_sums
from insights.visits import member_counts
from loyalty.models import LoyaltyCard, LoyaltyProgram, LoyaltyTransaction
from merchants.models import Merchant, Store

Type = LoyaltyTransaction.Type
VISIT_TYPES = (Type.STAMP.value, Type.POINTS_EARN.value)
REDEMPTION_TYPES = (Type.STAMP_REDEEM.value, Type.POINTS_REDEEM.value)
VOID_TYPES = (Type.POINTS_VOID.value, Type.STAMP_VOID.value)
ADJUST_TYPES = (Type.POINTS_ADJUST.value, Type.STAMPS_ADJUST.value)
CURRENCY = "EUR"
CENT = Decimal("0.01")
__all__ = ["LIABILITY_COLUMNS", "Summary", "Totals", "liability", "money", "outstanding", "plain", "summary"]


@dataclass
class Totals:
    """What a set of ledger sums (one day, one store, one staff member, …) amounts to."""

    rows: int = 0
    visits: int = 0
    points_issued: int = 0
    points_redeemed: int = 0
    points_voided: int = 0
    points_expired: int = 0
    stamps_issued: int = 0
    stamps_redeemed: int = 0
    rewards_redeemed: int = 0
    voids: int = 0
    adjustments: int = 0

    def add(self, fact: dict) -> None:
        kind = fact["type"]
        self.rows += fact["rows"]
        self.points_issued += fact["points_in"]
        self.stamps_issued += fact["stamps_in"]
        if kind in VISIT_TYPES:
            self.visits += fact["rows"]
        if kind in REDEMPTION_TYPES:
            self.rewards_redeemed += fact["rows"]
        if kind == Type.STAMP_REDEEM:
            self.stamps_redeemed += fact["stamps_out"]
        if kind == Type.POINTS_REDEEM:
            self.points_redeemed += fact["points_out"]
        elif kind == Type.POINTS_EXPIRE:
            self.points_expired += fact["points_out"]
        else:
            self.points_voided += fact["points_out"]
        if kind in VOID_TYPES:
            self.voids += fact["rows"]
        if kind in ADJUST_TYPES:
            self.adjustments += fact["rows"]


def totals_by(facts: Iterable[dict], key) -> dict:
    grouped: dict = defaultdict(Totals)
    for fact in facts:
        grouped[key(fact)].add(fact)
    return grouped


def plain(value: Decimal) -> str:
    """0.0100 -> "0.01", 10.0000 -> "10" (never an exponent)."""
    return format(value.normalize(), "f")


def point_value_of(merchant: Merchant) -> Decimal:
    """The active program's point value (the newest program's when none is active)."""
    program = (
        LoyaltyProgram.objects.filter(merchant=merchant)
        .order_by("-is_active", "-created_at")
        .only("point_value")
        .first()
    )
    return program.point_value if program else Decimal("0.01")


def facts(
    merchant: Merchant, period: Period, store: Store | None, *dims: str, state: RollupState | None = None
) -> list[dict]:
    """Ledger sums of the period grouped by ``dims`` and type: the roll-up, then the rows after it."""
    last_id = (state or marks()).last_id
    # Without the staff dimension the store-level roll-up has the same sums in far fewer rows.
    source = LedgerDay if "staff_user" in dims else LedgerStoreDay
    days = source.objects.filter(merchant=merchant, day__gte=period.start, day__lte=period.end)
    start, end = period.bounds()
    tail = LoyaltyTransaction.objects.filter(
        merchant=merchant, id__gt=last_id, created_at__gte=start, created_at__lt=end
    )
    if store is not None:
        days, tail = days.filter(store=store), tail.filter(store=store)
    rolled = list(days.order_by().values(*dims, "type").annotate(**rollup_sums())) if last_id else []
    return rolled + list(ledger_facts(tail, *dims))


@dataclass
class Summary:
    """The figures of one merchant, period and (optional) store; ``as_json()`` is the API's answer."""

    period: Period
    store: Store | None
    members: dict
    totals: Totals
    repeat_visit_rate: float
    outstanding_points: int
    outstanding_amount: Decimal
    point_value: Decimal
    by_store: list[dict] = field(default_factory=list)
    by_staff: list[dict] = field(default_factory=list)
    daily: list[dict] = field(default_factory=list)

    def as_json(self) -> dict:
        t = self.totals
        return {
            "period": {"from": self.period.start.isoformat(), "to": self.period.end.isoformat()},
            "store": self.store.code if self.store else None,
            "members": self.members,
            "visits": t.visits,
            "repeat_visit_rate": self.repeat_visit_rate,
            "stamps": {"issued": t.stamps_issued, "redeemed": t.stamps_redeemed},
            "points": {
                "issued": t.points_issued,
                "redeemed": t.points_redeemed,
                "voided": t.points_voided,
                "expired": t.points_expired,
                "outstanding": self.outstanding_points,
            },
            "rewards_redeemed": t.rewards_redeemed,
            "breakage_rate": self.breakage_rate,
            "liability": {
                "points_outstanding": self.outstanding_points,
                "point_value": plain(self.point_value),
                "amount": str(self.outstanding_amount.quantize(CENT)),
                "currency": CURRENCY,
            },
            "by_store": self.by_store,
            "by_staff": self.by_staff,
            "daily": self.daily,
        }

    @property
    def breakage_rate(self) -> float:
        """Points expired / points issued in the period (0 when none issued)."""
        issued = self.totals.points_issued
        return round(self.totals.points_expired / issued, 4) if issued else 0.0


@planned_for_values()  # a year's plan differs from a week's: 162 ms on a generic plan, 104 planned for it
def summary(*, merchant: Merchant, period: Period, store: Store | None = None) -> Summary:
    state = marks()  # one reading of the marks: every figure below is as of the same roll-up
    per_day = facts(merchant, period, store, "day", state=state)  # the daily series
    per_store_and_staff = facts(merchant, period, store, "store", "staff_user", state=state)  # the tables, the totals
    totals = Totals()
    for fact in per_store_and_staff:
        totals.add(fact)
    enrolled = enrolled_cards(merchant, period, store, state.card_last_id)
    counts = member_counts(merchant, period.start, period.end, store, state.last_id)
    once, repeat = counts["once"], counts["repeat"]
    members = {
        "total": enrolled.total,
        "new": sum(row["n"] for row in enrolled.rows),
        "active_30d": counts["active_30d"],
        "active_90d": counts["active_90d"],
    }
    points, amount = outstanding(merchant, state.last_id)
    return Summary(
        period=period,
        store=store,
        members=members,
        totals=totals,
        repeat_visit_rate=round(repeat / once, 4) if once else 0.0,
        outstanding_points=points,
        outstanding_amount=amount,
        point_value=point_value_of(merchant),
        by_store=_by_store(merchant, store, per_store_and_staff, enrolled.rows),
        by_staff=_by_staff(per_store_and_staff),
        daily=_daily(period, per_day, enrolled.rows),
    )


def _daily(period: Period, rows: list[dict], enrolled: list[dict]) -> list[dict]:
    per_day = totals_by(rows, lambda f: f["day"])
    new = defaultdict(int)
    for row in enrolled:
        new[row["day"]] += row["n"]
    return [
        {
            "date": day.isoformat(),
            "new_members": new[day],
            "visits": per_day[day].visits,
            "points_issued": per_day[day].points_issued,
            "points_redeemed": per_day[day].points_redeemed,
        }
        for day in period.dates()
    ]


def _by_store(merchant: Merchant, only: Store | None, rows: list[dict], enrolled: list[dict]) -> list[dict]:
    per_store = totals_by(rows, lambda f: f["store"])
    new = defaultdict(int)
    for row in enrolled:
        new[row["enrolled_at_store"]] += row["n"]
    stores = [only] if only is not None else list(Store.objects.filter(merchant=merchant).order_by("name"))
    answer = []
    for store in [*stores, None]:
        t = per_store.get(store.pk if store else None, Totals())
        if store is None and not (t.rows or new[None]):
            continue  # rows without a store (welcome bonuses, expiry) only when there are some
        answer.append(
            {
                "store": store.code if store else None,
                "name": store.name if store else None,
                "visits": t.visits,
                "new_members": new[store.pk if store else None],
                "points_issued": t.points_issued,
                "points_redeemed": t.points_redeemed,
            }
        )
    return answer


def _by_staff(rows: list[dict]) -> list[dict]:
    per_staff = totals_by((f for f in rows if f["staff_user"] is not None), lambda f: f["staff_user"])
    names = dict(get_user_model().objects.filter(pk__in=per_staff).values_list("pk", get_user_model().USERNAME_FIELD))
    answer = [
        {
            "staff": names.get(user_id, str(user_id)),
            "operations": t.rows,
            "voids": t.voids,
            "adjustments": t.adjustments,
            "points_voided": t.points_voided,
        }
        for user_id, t in per_staff.items()
    ]
    return sorted(answer, key=lambda row: (-row["operations"], row["staff"]))


# --- the liability roll-forward ---------------------------------------------------------------

LIABILITY_COLUMNS = [
    "month",
    "opening_points",
    "issued_points",
    "redeemed_points",
    "voided_points",
    "expired_points",
    "closing_points",
    "point_value",
    "opening_amount",
    "issued_amount",
    "redeemed_amount",
    "expired_amount",
    "closing_amount",
]


def _month_start(day: datetime.date) -> datetime.date:
    return day.replace(day=1)


def _next_month(month: datetime.date) -> datetime.date:
    return (month + datetime.timedelta(days=32)).replace(day=1)


def first_month(merchant: Merchant) -> datetime.date | None:
    """The month of the merchant's first ledger row (or of its first program)."""
    candidates = []
    first_day = LedgerDay.objects.filter(merchant=merchant).order_by("day").values_list("day", flat=True).first()
    if first_day:
        candidates.append(first_day)
    first_row = (
        LoyaltyTransaction.objects.filter(merchant=merchant, id__gt=rolled_up_through())
        .order_by("created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    if first_row:
        candidates.append(first_row.astimezone(local_tz()).date())
    program = LoyaltyProgram.objects.filter(merchant=merchant).order_by("created_at").first()
    if program:
        candidates.append(program.created_at.astimezone(local_tz()).date())
    return _month_start(min(candidates)) if candidates else None


@planned_for_values()
def liability(*, merchant: Merchant, month: datetime.date) -> list[dict]:
    """One row per month from the first to ``month``: each balances and opens at the last closing.

    Points movements are the ledger's (issued, redeemed, voided, expired as defined above). A card
    deleted with points left can use them no more: they count as expired in the month it was
    deleted, so the current month closes at exactly the points outstanding on live cards.
    """
    first = first_month(merchant)
    if first is None or first > month:
        return []
    period = Period(first, _next_month(month) - datetime.timedelta(days=1))
    per_month = totals_by(facts(merchant, period, None, "day"), lambda f: _month_start(f["day"]))
    end = period.bounds()[1]
    forfeited = {
        row["month"].date() if isinstance(row["month"], datetime.datetime) else row["month"]: row["points"]
        for row in LoyaltyCard.objects.filter(
            merchant=merchant, deleted_at__isnull=False, deleted_at__lt=end, points_balance__gt=0
        )
        .order_by()
        .annotate(month=TruncMonth("deleted_at", tzinfo=local_tz()))
        .values("month")
        .annotate(points=Sum("points_balance"))
    }
    value = point_value_of(merchant)
    rows, opening, current = [], 0, first
    while current <= month:
        t = per_month.get(current, Totals())
        expired = t.points_expired + forfeited.get(current, 0)
        closing = opening + t.points_issued - t.points_redeemed - t.points_voided - expired
        rows.append(
            {
                "month": f"{current:%Y-%m}",
                "opening_points": opening,
                "issued_points": t.points_issued,
                "redeemed_points": t.points_redeemed,
                "voided_points": t.points_voided,
                "expired_points": expired,
                "closing_points": closing,
                "point_value": value,
                "opening_amount": money(opening, value),
                "issued_amount": money(t.points_issued, value),
                "redeemed_amount": money(t.points_redeemed, value),
                "expired_amount": money(expired, value),
                "closing_amount": money(closing, value),
            }
        )
        opening, current = closing, _next_month(current)
    return rows
