"""Insights at scale: the summary of 30 and 365 days for a merchant with 10 million ledger rows.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/loyalty_bench_insights .venv/bin/python bench/insights.py
        [--cards 500000] [--rows 10000000] [--days 730] [--rounds 5]

Needs PostgreSQL (the database is created if missing and migrated). The data set is made once
with INSERT … SELECT generate_series (a merchant with two stores, ten staff, --cards cards and
--rows ledger rows spread over --days days: stamps, earns, redemptions, voids, adjustments,
expiries; each card's balance is then the sum of its ledger, as the services keep it, an opening
balance imported where the random rows would leave it below zero), then ``rebuild_insights`` rolls
it up. Each figure is the median of --rounds runs of
``insights.figures.summary()`` in-process (server time: every query and the Python around them;
no HTTP), beside the limit (1 second) and beside the same figures read from the ledger alone
(no roll-up), to show what the roll-up buys.
"""

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/loyalty_bench_insights")

from common import emit_result, ensure_postgres_database, median, print_table, setup_django  # noqa: E402

SLUG = "bench-insights"
LIMIT_MS = 1000.0
CHUNK = 1_000_000
# (type, share of rows, stamps delta, points delta SQL)
MIX = [
    ("stamp", 0.40, "1", "0"),
    ("points_earn", 0.38, "0", "1 + (random() * 40)::int"),
    ("points_redeem", 0.07, "0", "-(10 + (random() * 40)::int)"),
    ("stamp_redeem", 0.05, "-10", "0"),
    ("points_void", 0.04, "0", "-(1 + (random() * 20)::int)"),
    ("points_adjust", 0.02, "0", "(random() * 20)::int - 10"),
    ("points_expire", 0.02, "0", "-(1 + (random() * 100)::int)"),
    ("welcome_bonus", 0.02, "0", "50"),
]


def build(cards: int, rows: int, days: int) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from insights.models import CardVisits, EnrollmentDay, ProgramPoints, VisitRuns
    from insights.rollup import rebuild
    from loyalty.models import LoyaltyCard, LoyaltyProgram, LoyaltyTransaction
    from merchants.models import Merchant, StaffMember, Store

    merchant, _ = Merchant.objects.get_or_create(slug=SLUG, defaults={"name": "Benchmark insights"})
    program, _ = LoyaltyProgram.objects.get_or_create(merchant=merchant, is_active=True, defaults={"name": "Bench"})
    stores = [
        Store.objects.get_or_create(merchant=merchant, code=c, defaults={"name": c})[0] for c in ("main", "kiosk")
    ]
    staff = []
    for n in range(10):
        user, _ = get_user_model().objects.get_or_create(username=f"bench-insights-{n}")
        StaffMember.objects.get_or_create(user=user, defaults={"merchant": merchant, "role": "cashier"})
        staff.append(user.pk)
    made = LoyaltyTransaction.objects.filter(merchant=merchant).exclude(type="points_import")
    if LoyaltyCard.objects.filter(merchant=merchant).count() == cards and made.count() == rows:
        rollups = (CardVisits, VisitRuns, EnrollmentDay, ProgramPoints)
        if not all(model.objects.filter(merchant=merchant).exists() for model in rollups):
            _rebuild(merchant, rebuild)
        if not _balanced(merchant):
            print("the cards' balances are not their ledgers' sums (a data set made before they were): fixing…")
            _balance(merchant)
            _rebuild(merchant, rebuild)
        return
    print(f"making {cards:,} cards and {rows:,} ledger rows over {days} days (once)…", flush=True)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM insights_ledgerday WHERE merchant_id = %s", [merchant.pk])
        cursor.execute("DELETE FROM insights_cardvisits WHERE merchant_id = %s", [merchant.pk])
        cursor.execute("DELETE FROM loyalty_loyaltytransaction WHERE merchant_id = %s", [merchant.pk])
        cursor.execute("DELETE FROM loyalty_loyaltycard WHERE merchant_id = %s", [merchant.pk])
        cursor.execute("DELETE FROM customers_customer WHERE merchant_id = %s", [merchant.pk])
        cursor.execute(
            """INSERT INTO customers_customer (merchant_id, first_name, last_name, email, phone, marketing_opt_in,
                    email_opt_out, preferred_language, created_at, updated_at)
               SELECT %(m)s, 'Bench', 'Member ' || n, 'insights' || n || '@example.com', '', false, false, 'en',
                      now(), now()
               FROM generate_series(1, %(n)s) AS n""",
            {"m": merchant.pk, "n": cards},
        )
        cursor.execute(
            r"""INSERT INTO loyalty_loyaltycard (merchant_id, customer_id, program_id, enrolled_at_store_id, card_number,
                    qr_code_data, stamp_count, lifetime_stamps, rewards_redeemed, points_balance, lifetime_points_earned,
                    lifetime_points_redeemed, lifetime_points_voided, google_object_id, apple_serial_number,
                    apple_auth_token, last_activity_at, is_active, created_at, updated_at, google_notices)
               SELECT %(m)s, c.id, %(p)s, CASE WHEN c.id %% 3 = 0 THEN %(s2)s ELSE %(s1)s END,
                      '9' || substr(lpad(c.id::text, 11, '0'), 1, 3) || '-' || substr(lpad(c.id::text, 11, '0'), 4, 4)
                          || '-' || substr(lpad(c.id::text, 11, '0'), 8, 4),
                      md5('insights-qr' || c.id), 0, 0, 0, (random() * 300)::int, 0, 0, 0, '',
                      md5('insights-serial' || c.id), md5('insights-token' || c.id), now(), true,
                      now() - random() * make_interval(days => %(days)s), now(), '{}'::jsonb
               FROM customers_customer c WHERE c.merchant_id = %(m)s""",
            {"m": merchant.pk, "p": program.pk, "s1": stores[0].pk, "s2": stores[1].pk, "days": days},
        )
        cursor.execute("SELECT min(id), max(id) FROM loyalty_loyaltycard WHERE merchant_id = %s", [merchant.pk])
        low, high = cursor.fetchone()
        cases_type, cases_stamps, cases_points, edge = [], [], [], 0.0
        for name, share, stamps, points in MIX:
            edge += share
            cases_type.append(f"WHEN r < {edge:.4f} THEN '{name}'")
            cases_stamps.append(f"WHEN r < {edge:.4f} THEN {stamps}")
            cases_points.append(f"WHEN r < {edge:.4f} THEN {points}")
        done = 0
        while done < rows:
            size = min(CHUNK, rows - done)
            cursor.execute(
                f"""INSERT INTO loyalty_loyaltytransaction (card_id, merchant_id, store_id, staff_user_id, type,
                        stamps_delta, points_delta, stamps_after, points_after, order_reference, reason,
                        idempotency_key, created_at)
                    SELECT %(low)s + (random() * (%(high)s - %(low)s))::int, %(m)s,
                           CASE WHEN random() < 0.65 THEN %(s1)s ELSE %(s2)s END,
                           (%(staff)s::int[])[1 + (random() * 9)::int],
                           CASE {" ".join(cases_type)} ELSE 'stamp' END,
                           CASE {" ".join(cases_stamps)} ELSE 1 END,
                           CASE {" ".join(cases_points)} ELSE 0 END,
                           0, 0, '', '', '', now() - random() * make_interval(days => %(days)s)
                    FROM (SELECT random() AS r FROM generate_series(1, %(n)s)) AS g""",
                {
                    "low": low,
                    "high": high,
                    "m": merchant.pk,
                    "s1": stores[0].pk,
                    "s2": stores[1].pk,
                    "staff": staff,
                    "days": days,
                    "n": size,
                },
            )
            done += size
            print(f"  {done:,} / {rows:,} ledger rows ({time.perf_counter() - started:.0f} s)", flush=True)
        cursor.execute("VACUUM ANALYZE loyalty_loyaltytransaction") if connection.connection.autocommit else None
    _balance(merchant)
    print(f"data made in {time.perf_counter() - started:.0f} s; rolling up…", flush=True)
    _rebuild(merchant, rebuild)


def _balanced(merchant) -> bool:
    """Whether the points outstanding (from the roll-up: the ledger's sums) are the live cards' balances."""
    from django.db.models import Sum

    from insights.outstanding import outstanding
    from insights.rollup import marks
    from loyalty.models import LoyaltyCard

    balances = LoyaltyCard.objects.alive().filter(merchant=merchant).aggregate(s=Sum("points_balance"))["s"] or 0
    return outstanding(merchant, marks().last_id)[0] == balances


def _balance(merchant) -> None:
    """Each card's balance = the sum of its ledger's points deltas (the ledger invariant the services keep).

    A card the random rows would leave below zero gets an opening balance first (a ``points_import``
    row on its enrollment day, up to 100 points more than it needs).
    """
    from django.db import connection

    per_card = "SELECT card_id, sum(points_delta) AS points FROM loyalty_loyaltytransaction WHERE merchant_id = %(m)s GROUP BY card_id"
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO loyalty_loyaltytransaction (card_id, merchant_id, type, stamps_delta, points_delta,
                    stamps_after, points_after, order_reference, reason, idempotency_key, created_at)
                SELECT per_card.card_id, %(m)s, 'points_import', 0, (random() * 100)::int - per_card.points, 0, 0,
                       '', 'Opening balance', '', card.created_at
                FROM ({per_card}) AS per_card JOIN loyalty_loyaltycard AS card ON card.id = per_card.card_id
                WHERE per_card.points < 0""",
            {"m": merchant.pk},
        )
        cursor.execute(
            f"""UPDATE loyalty_loyaltycard AS card SET points_balance = coalesce(per_card.points, 0)
                FROM loyalty_loyaltycard AS same LEFT JOIN ({per_card}) AS per_card ON per_card.card_id = same.id
                WHERE card.id = same.id AND card.merchant_id = %(m)s""",
            {"m": merchant.pk},
        )


def _rebuild(merchant, rebuild) -> None:
    """rebuild_insights for the merchant, after the job's mark has moved past the new rows."""
    from insights.rollup import roll_up, vacuum

    roll_up()
    roll_up()
    started = time.perf_counter()
    rebuild(merchant.pk)
    print(f"rebuild_insights --merchant {SLUG}: {time.perf_counter() - started:.1f} s", flush=True)
    vacuum()  # as the command does: the rows just written, their pages marked all-visible


def timed(fn, rounds: int) -> float:
    fn()  # warm: plans, caches
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cards", type=int, default=500_000)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    ensure_postgres_database()
    setup_django()
    from django.core.management import call_command
    from django.db import connection

    print(f"load average at start: {os.getloadavg()[0]:.2f}", flush=True)
    from insights import figures
    from insights.periods import parse_month, parse_period
    from insights.rollup import roll_up
    from merchants.models import Merchant

    call_command("migrate", verbosity=0)
    build(args.cards, args.rows, args.days)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    roll_up()
    roll_up()
    merchant = Merchant.objects.get(slug=SLUG)
    results = {}
    for label, days in (("30 days", 30), ("365 days", 365)):
        period = parse_period(None, None, preset=None) if days == 30 else None
        if period is None:
            import datetime

            from insights.periods import Period, today

            period = Period(today() - datetime.timedelta(days=days - 1), today())
        results[label] = timed(lambda p=period: figures.summary(merchant=merchant, period=p), args.rounds)
    month = parse_month(None)
    results["liability, 24+ months"] = timed(lambda: figures.liability(merchant=merchant, month=month), args.rounds)

    # The same additive figures straight from the ledger (what the roll-up replaces), 365 days.
    import datetime

    from insights.periods import Period, today
    from insights.rollup import ledger_facts
    from loyalty.models import LoyaltyTransaction

    year = Period(today() - datetime.timedelta(days=364), today())
    start, end = year.bounds()
    raw = LoyaltyTransaction.objects.filter(merchant=merchant, created_at__gte=start, created_at__lt=end)
    without = timed(lambda: list(ledger_facts(raw, "day", "store", "staff_user")), max(1, args.rounds // 2))

    rows = [
        [name, f"{ms:.0f} ms", f"{LIMIT_MS:.0f} ms", "met" if ms < LIMIT_MS else "NOT met"]
        for name, ms in results.items()
    ]
    rows.append(["365 days' sums from the ledger alone (no roll-up)", f"{without:.0f} ms", "", "for comparison"])
    print_table(
        f"insights.figures at {args.rows:,} ledger rows, {args.cards:,} cards, {args.days} days "
        f"(median of {args.rounds})",
        ["figure", "server time", "limit", ""],
        rows,
    )
    print(f"load average at end: {os.getloadavg()[0]:.2f}", flush=True)
    emit_result("insights", {"ms": results, "ledger_only_365_ms": without})


if __name__ == "__main__":
    main()
