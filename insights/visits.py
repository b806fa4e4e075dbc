"""Members with visits in a window: from the runs of visits (PostgreSQL) or from the ledger.

On PostgreSQL with the roll-up in place, ``VisitRuns`` answers the four figures about distinct
members (with 1+ and 2+ visits in the period, with a visit in the 30 and 90 days ending its last
day) in one read of the window's rows (at most W x W / 2 a lag for a window of W days, however many
cards): members with 1+ visits = S(0) - S(1), with 2+ = S(1) - S(2) (``insights.models.VisitRuns``).
The few cards with visits since the roll-up's mark are corrected in Python from their kept visit
days (``CardVisits``). Anywhere else (SQLite, no roll-up yet) the ledger's visits index answers,
with the same definitions.
"""

import bisect
import datetime

from django.db import connection
from django.db.models import Count, Q, Sum

from insights.models import VisitRuns
from insights.periods import local_midnight, local_tz
from loyalty.models import LoyaltyTransaction
from merchants.models import Merchant, Store

VISIT_TYPES = ("stamp", "points_earn")
EPOCH = datetime.date(1970, 1, 1)
FIGURES = ("once", "repeat", "active_30d", "active_90d")


def _day_number(day: datetime.date) -> int:
    return (day - EPOCH).days


def member_counts(
    merchant: Merchant, start: datetime.date, end: datetime.date, store: Store | None, last_id: int
) -> dict:
    """{"once", "repeat", "active_30d", "active_90d"} for the local days [start, end]."""
    if connection.vendor == "postgresql" and last_id:
        return _from_visit_runs(merchant, start, end, store, last_id)
    return _from_ledger(merchant, start, end, store)


def _windows(start: datetime.date, end: datetime.date) -> dict:
    """Each figure's window: (first day, how many visits at least)."""
    return {
        "once": (start, 1),
        "repeat": (start, 2),
        "active_30d": (end - datetime.timedelta(days=29), 1),
        "active_90d": (end - datetime.timedelta(days=89), 1),
    }


def _from_visit_runs(merchant, start, end, store, last_id) -> dict:
    store_key = store.pk if store else 0
    windows = _windows(start, end)
    sums = {}
    for name, (first, at_least) in windows.items():
        for lag in (at_least - 1, at_least):
            sums[f"{name}_{lag}"] = Sum("runs", filter=Q(lag=lag, first_day__gte=first), default=0)
    lowest = min(first for first, _ in windows.values())
    rows = VisitRuns.objects.filter(
        merchant=merchant, store_key=store_key, first_day__gte=lowest, first_day__lte=end, last_day__lte=end
    ).filter(Q(lag__lt=2) | Q(first_day__gte=start))
    totals = rows.aggregate(**sums)
    counts = {name: totals[f"{name}_{n - 1}"] - totals[f"{name}_{n}"] for name, (_, n) in windows.items()}
    for name, change in _recent_changes(merchant, store, store_key, last_id, windows, end).items():
        counts[name] += change
    return counts


def _recent_changes(merchant, store, store_key, last_id, windows, end) -> dict:
    """What the visits after the mark change: each card's figures with them minus without them."""
    rows = LoyaltyTransaction.objects.filter(merchant=merchant, id__gt=last_id, type__in=VISIT_TYPES).order_by()
    if store is not None:
        rows = rows.filter(store=store)
    recent: dict[int, list[int]] = {}
    tz = local_tz()
    for card_id, created_at in rows.values_list("card_id", "created_at"):
        recent.setdefault(card_id, []).append(_day_number(created_at.astimezone(tz).date()))
    if not recent:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT card_id, days FROM insights_cardvisits WHERE store_key = %s AND card_id = ANY(%s::bigint[])",
            [store_key, list(recent)],
        )
        kept = dict(cursor.fetchall())
    end_n = _day_number(end)
    bounds = {name: (_day_number(first) - 1, at_least) for name, (first, at_least) in windows.items()}

    def figures(days: list[int]) -> dict:
        upto_end = bisect.bisect_right(days, end_n)
        return {name: upto_end - bisect.bisect_right(days, before) >= n for name, (before, n) in bounds.items()}

    changes = dict.fromkeys(FIGURES, 0)
    for card_id, days in recent.items():
        old = kept.get(card_id) or []
        before, after = figures(old), figures(sorted(old + days))
        for name in FIGURES:
            changes[name] += after[name] - before[name]
    return changes


def _visits(merchant, start: datetime.date, end: datetime.date, store):
    rows = LoyaltyTransaction.objects.filter(
        merchant=merchant,
        type__in=VISIT_TYPES,
        created_at__gte=local_midnight(start),
        created_at__lt=local_midnight(end + datetime.timedelta(days=1)),
    ).order_by()
    return rows.filter(store=store) if store is not None else rows


def _from_ledger(merchant, start, end, store) -> dict:
    per_card = _visits(merchant, start, end, store).values("card").annotate(n=Count("id"))
    counted = per_card.aggregate(once=Count("card"), repeat=Count("card", filter=Q(n__gte=2)))

    def active(days: int) -> int:
        window = _visits(merchant, end - datetime.timedelta(days=days - 1), end, store)
        return window.aggregate(n=Count("card", distinct=True))["n"]

    return {
        "once": counted["once"] or 0,
        "repeat": counted["repeat"] or 0,
        "active_30d": active(30),
        "active_90d": active(90),
    }


# Adds the visits of ledger ids (low, high] to each card's visit days (``CardVisits``) and, in the
# same statement, their change to the runs (``VisitRuns``): the runs of the cards' visit days after
# the change minus those before it (``before`` reads the rows as they were when the statement
# began), only the cells that change. The days up to the earliest added one are the same before and
# after (``cut`` of them: ``width_bucket`` counts the kept days <= it), so only runs ending after
# them are counted: a visit after the card's last one adds 3 cells. (``unnest … WITH ORDINALITY``
# rather than ``generate_series``: the planner guesses 10 rows for it, not 1,000, so no JIT.)
CARD_VISITS_SQL = """
    WITH visits AS (
        SELECT merchant_id, card_id, store_id,
               ((created_at AT TIME ZONE %(tz)s)::date - DATE '1970-01-01') AS day
        FROM loyalty_loyaltytransaction
        WHERE id > %(low)s AND id <= %(high)s AND type IN ('stamp', 'points_earn') {merchant}
    ), grouped AS (
        SELECT merchant_id, card_id, 0::bigint AS store_key, array_agg(day ORDER BY day) AS days
        FROM visits GROUP BY merchant_id, card_id
        UNION ALL
        SELECT merchant_id, card_id, store_id::bigint, array_agg(day ORDER BY day)
        FROM visits WHERE store_id IS NOT NULL GROUP BY merchant_id, card_id, store_id
    ), before AS (
        SELECT kept.merchant_id, kept.card_id, kept.store_key, kept.days,
               width_bucket(grouped.days[1], kept.days) AS cut
        FROM insights_cardvisits AS kept
        JOIN grouped ON grouped.card_id = kept.card_id AND grouped.store_key = kept.store_key
    ), after AS (
        INSERT INTO insights_cardvisits (merchant_id, card_id, store_key, days)
        SELECT merchant_id, card_id, store_key, days FROM grouped
        ON CONFLICT (card_id, store_key) DO UPDATE
            SET days = ARRAY(SELECT unnest(insights_cardvisits.days || EXCLUDED.days) ORDER BY 1)
        RETURNING merchant_id, card_id, store_key, days
    ), changed AS (
        SELECT merchant_id, store_key, days, cut, -1 AS sign FROM before
        UNION ALL
        SELECT after.merchant_id, after.store_key, after.days, coalesce(before.cut, 0), 1
        FROM after
        LEFT JOIN before ON before.card_id = after.card_id AND before.store_key = after.store_key
    ), runs AS (
        SELECT changed.merchant_id, changed.store_key, lags.lag,
               changed.days[i - lags.lag] AS first_day, changed.days[i] AS last_day, sum(changed.sign) AS runs
        FROM changed
        CROSS JOIN LATERAL unnest(changed.days) WITH ORDINALITY AS day (value, i)
        CROSS JOIN (VALUES (0), (1), (2)) AS lags (lag)
        WHERE i > changed.cut AND i > lags.lag
        GROUP BY 1, 2, 3, 4, 5
        HAVING sum(changed.sign) <> 0
    )
    INSERT INTO insights_visitruns (merchant_id, store_key, lag, first_day, last_day, runs)
    SELECT merchant_id, store_key, lag, DATE '1970-01-01' + first_day, DATE '1970-01-01' + last_day, runs
    FROM runs
    ON CONFLICT (merchant_id, store_key, first_day, last_day, lag) DO UPDATE
        SET runs = insights_visitruns.runs + EXCLUDED.runs
"""


def add_card_visits(low: int, high: int, merchant_id: int | None = None) -> None:
    """Add the visits of ledger ids (low, high] to the visit days and runs (PostgreSQL only)."""
    if connection.vendor != "postgresql" or high <= low:
        return
    sql = CARD_VISITS_SQL.format(merchant="AND merchant_id = %(merchant)s" if merchant_id else "")
    with connection.cursor() as cursor:
        cursor.execute(sql, {"tz": str(local_tz()), "low": low, "high": high, "merchant": merchant_id})
