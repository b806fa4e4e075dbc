"""Members with visits in a window, from the per-card visit days (PostgreSQL) or the ledger.

On PostgreSQL with the roll-up in place, one pass over ``CardVisits`` (merged with the visits
written since the last roll-up) answers the four figures about distinct members at once: with 1+
and 2+ visits in the period, and with a visit in the 30 and 90 days ending its last day. Anywhere
else (SQLite, no roll-up yet) the ledger's visits index answers, with the same definitions.
"""

import bisect
import datetime

from django.db import connection
from django.db.models import Count, Q

from insights.rollup import local_tz, rolled_up_through
from loyalty.models import LoyaltyTransaction
from merchants.models import Merchant, Store

VISIT_TYPES = ("stamp", "points_earn")
EPOCH = datetime.date(1970, 1, 1)


def _day_number(day: datetime.date) -> int:
    return (day - EPOCH).days


def member_counts(merchant: Merchant, start: datetime.date, end: datetime.date, store: Store | None) -> dict:
    """{"once", "repeat", "active_30d", "active_90d"} for the local days [start, end]."""
    last_id = rolled_up_through()
    if connection.vendor == "postgresql" and last_id:
        return _from_card_visits(merchant, start, end, store, last_id)
    return _from_ledger(merchant, start, end, store)


def _from_card_visits(merchant, start, end, store, last_id) -> dict:
    """One pass over the kept visit days; the few cards with visits since the roll-up in Python."""
    store_key = store.pk if store else 0
    recent_sql = """
        SELECT card_id, ((created_at AT TIME ZONE %(tz)s)::date - DATE '1970-01-01')
        FROM loyalty_loyaltytransaction
        WHERE merchant_id = %(merchant)s AND id > %(last_id)s AND type IN ('stamp', 'points_earn')
          AND (%(store)s::bigint IS NULL OR store_id = %(store)s::bigint)
    """
    end_n = _day_number(end)
    bounds = {"end": end_n, "before": _day_number(start) - 1, "before30": end_n - 30, "before90": end_n - 90}
    with connection.cursor() as cursor:
        cursor.execute(
            recent_sql,
            {"tz": str(local_tz()), "merchant": merchant.pk, "last_id": last_id, "store": store.pk if store else None},
        )
        recent: dict[int, list[int]] = {}
        for card_id, day in cursor.fetchall():
            recent.setdefault(card_id, []).append(day)
        cursor.execute(
            """
            SELECT count(*) FILTER (WHERE upto_end - before_start >= 1),
                   count(*) FILTER (WHERE upto_end - before_start >= 2),
                   count(*) FILTER (WHERE upto_end - before_30 >= 1),
                   count(*) FILTER (WHERE upto_end - before_90 >= 1)
            FROM (
                SELECT width_bucket(%(end)s::int, days) AS upto_end,
                       width_bucket(%(before)s::int, days) AS before_start,
                       width_bucket(%(before30)s::int, days) AS before_30,
                       width_bucket(%(before90)s::int, days) AS before_90
                FROM insights_cardvisits
                WHERE merchant_id = %(merchant)s AND store_key = %(store_key)s
                  AND NOT (card_id = ANY(%(recent)s::bigint[]))
            ) AS counted
            """,
            {**bounds, "merchant": merchant.pk, "store_key": store_key, "recent": list(recent)},
        )
        once, repeat, active_30d, active_90d = cursor.fetchone()
        if recent:
            cursor.execute(
                "SELECT card_id, days FROM insights_cardvisits WHERE store_key = %s AND card_id = ANY(%s::bigint[])",
                [store_key, list(recent)],
            )
            for card_id, days in cursor.fetchall():
                recent[card_id].extend(days)
    for days in recent.values():
        days.sort()

        def upto(day: int, days=days) -> int:
            return bisect.bisect_right(days, day)

        in_period = upto(bounds["end"]) - upto(bounds["before"])
        once += in_period >= 1
        repeat += in_period >= 2
        active_30d += upto(bounds["end"]) - upto(bounds["before30"]) >= 1
        active_90d += upto(bounds["end"]) - upto(bounds["before90"]) >= 1
    return {"once": once, "repeat": repeat, "active_30d": active_30d, "active_90d": active_90d}


def _visits(merchant, start: datetime.date, end: datetime.date, store):
    from insights.periods import local_midnight

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
    )
    INSERT INTO insights_cardvisits (merchant_id, card_id, store_key, days)
    SELECT merchant_id, card_id, store_key, days FROM grouped
    ON CONFLICT (card_id, store_key) DO UPDATE
        SET days = ARRAY(SELECT unnest(insights_cardvisits.days || EXCLUDED.days) ORDER BY 1)
"""


def add_card_visits(low: int, high: int, merchant_id: int | None = None) -> None:
    """Add the visits of ledger ids (low, high] to the per-card visit days (PostgreSQL only)."""
    if connection.vendor != "postgresql" or high <= low:
        return
    sql = CARD_VISITS_SQL.format(merchant="AND merchant_id = %(merchant)s" if merchant_id else "")
    with connection.cursor() as cursor:
        cursor.execute(sql, {"tz": str(local_tz()), "low": low, "high": high, "merchant": merchant_id})
