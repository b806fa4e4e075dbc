"""Points expiration: the product (loyalty.services.expire_points) against the same work as raw SQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/loyalty_bench .venv/bin/python bench/expiry.py [--cards 100000]

Needs PostgreSQL (the database is created if missing and migrated; the benchmark merchant's
data is made once and reused). Each round puts the cards back to their inactive state with
points, vacuums, and times one run; the best of --rounds is kept for each contender:

  product        expire_points(): batches of LOYALTY_EXPIRY_BATCH_SIZE, each its own transaction
                 locking its cards (skip locked), ledger rows, one wallet update per card, nudge
  sql            one statement: zero the balances and insert the ledger rows
  sql + outbox   the same statement also inserting the wallet-update rows (what the product also does)

The target is product <= 3x sql.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Nudges of the product run go to a throw-away filesystem broker, not to a running worker's.
if not os.environ.get("REDIS_URL"):
    os.environ.setdefault("LOYALTY_VAR_DIR", tempfile.mkdtemp(prefix="bench-expiry-"))

from common import ensure_postgres_database, print_table  # noqa: E402

SLUG = "bench-expiry"
INACTIVE_DAYS = 400
EXPIRY_DAYS = 365
POINTS = 100


def setup(cards: int):
    from django.core.management import call_command
    from django.db import connection

    from loyalty.models import LoyaltyCard, LoyaltyProgram, LoyaltyTransaction
    from merchants.models import Merchant

    call_command("migrate", verbosity=0)
    merchant, _ = Merchant.objects.get_or_create(slug=SLUG, defaults={"name": "Benchmark expiry"})
    program, _ = LoyaltyProgram.objects.get_or_create(
        merchant=merchant,
        is_active=True,
        defaults={"name": "Bench", "kind": "points", "points_expiry_days": EXPIRY_DAYS},
    )
    have = LoyaltyCard.objects.filter(program=program).count()
    if have != cards:
        print(f"making {cards} customers and cards with their ledger (once)…", flush=True)
        customer_table = "customers_customer"
        card_table = LoyaltyCard._meta.db_table
        ledger_table = LoyaltyTransaction._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {ledger_table} WHERE merchant_id = %s", [merchant.pk])
            cursor.execute("DELETE FROM wallet_walletupdate WHERE card_id IN (SELECT id FROM loyalty_loyaltycard "
                           "WHERE merchant_id = %s)", [merchant.pk])  # fmt: skip
            cursor.execute(f"DELETE FROM {card_table} WHERE merchant_id = %s", [merchant.pk])
            cursor.execute(f"DELETE FROM {customer_table} WHERE merchant_id = %s", [merchant.pk])
            cursor.execute(
                f"""INSERT INTO {customer_table} (merchant_id, first_name, last_name, email, phone, marketing_opt_in,
                        email_opt_out, preferred_language, created_at, updated_at)
                    SELECT %(m)s, 'Bench', 'Customer ' || n, 'bench' || n || '@example.com', '', false, false, 'en',
                           now(), now()
                    FROM generate_series(1, %(n)s) AS n""",
                {"m": merchant.pk, "n": cards},
            )
            cursor.execute(
                f"""INSERT INTO {card_table} (merchant_id, customer_id, program_id, card_number, qr_code_data,
                        stamp_count, lifetime_stamps, rewards_redeemed, points_balance, lifetime_points_earned,
                        lifetime_points_redeemed, lifetime_points_voided, google_object_id, apple_serial_number,
                        apple_auth_token, last_activity_at, is_active, created_at, updated_at, google_notices)
                    SELECT %(m)s, c.id, %(p)s, regexp_replace(lpad(c.id::text, 12, '0'), '(....)(....)(....)', '\\1-\\2-\\3'), md5('qr' || c.id),
                           0, 0, 0, %(points)s, %(points)s, 0, 0, '', md5('serial' || c.id), md5('token' || c.id),
                           now(), true, now(), now(), '{{}}'
                    FROM {customer_table} c WHERE c.merchant_id = %(m)s""",
                {"m": merchant.pk, "p": program.pk, "points": POINTS},
            )
            cursor.execute(
                f"""INSERT INTO {ledger_table} (card_id, merchant_id, type, stamps_delta, points_delta, stamps_after,
                        points_after, order_reference, reason, idempotency_key, created_at)
                    SELECT id, %(m)s, 'welcome_bonus', 0, %(points)s, 0, %(points)s, '', '', '', now()
                    FROM {card_table} WHERE merchant_id = %(m)s""",
                {"m": merchant.pk, "points": POINTS},
            )
    return merchant, program


def reset(merchant, program) -> None:
    """Every benchmark card inactive with points again, no expiry rows, no wallet updates; vacuumed."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM loyalty_loyaltytransaction WHERE merchant_id = %s AND type = 'points_expire'", [merchant.pk]
        )
        cursor.execute(
            "DELETE FROM wallet_walletupdate WHERE card_id IN (SELECT id FROM loyalty_loyaltycard WHERE program_id = %s)",
            [program.pk],
        )
        cursor.execute(
            f"UPDATE loyalty_loyaltycard SET points_balance = %s, last_activity_at = now() - interval '{INACTIVE_DAYS} days' "
            "WHERE program_id = %s",
            [POINTS, program.pk],
        )
        for table in ("loyalty_loyaltycard", "loyalty_loyaltytransaction", "wallet_walletupdate"):
            cursor.execute(f"VACUUM ANALYZE {table}")
        cursor.execute("CHECKPOINT")


SQL = """
    WITH expired AS (
        UPDATE loyalty_loyaltycard AS card SET points_balance = 0, updated_at = now()
        FROM loyalty_loyaltycard AS old
        WHERE old.id = card.id AND card.program_id = %(p)s AND card.points_balance > 0
          AND card.last_activity_at < now() - interval '{days} days' AND card.deleted_at IS NULL
        RETURNING card.id, old.points_balance AS points, old.stamp_count AS stamps
    ), ledger AS (
        INSERT INTO loyalty_loyaltytransaction (card_id, merchant_id, type, stamps_delta, points_delta, stamps_after,
            points_after, order_reference, reason, idempotency_key, created_at)
        SELECT id, %(m)s, 'points_expire', 0, -points, stamps, 0, '', 'No activity', '', now() FROM expired
    ){outbox}
    SELECT count(*) FROM expired
"""
OUTBOX = """, outbox AS (
        INSERT INTO wallet_walletupdate (card_id, status, created_at, next_attempt_at, attempts, last_error)
        SELECT id, 'pending', now(), now(), 0, '' FROM expired
        ON CONFLICT DO NOTHING
    )"""


def run_sql(merchant, program, with_outbox: bool) -> int:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            SQL.format(days=EXPIRY_DAYS, outbox=OUTBOX if with_outbox else ""), {"p": program.pk, "m": merchant.pk}
        )
        return cursor.fetchone()[0]


def run_product(merchant, program) -> int:
    from loyalty import services

    return services.expire_points(merchant_slug=SLUG).cards


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cards", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    ensure_postgres_database()
    import django

    django.setup()
    from django.conf import settings

    merchant, program = setup(args.cards)
    contenders = {
        "sql": lambda: run_sql(merchant, program, with_outbox=False),
        "sql + outbox": lambda: run_sql(merchant, program, with_outbox=True),
        "product": lambda: run_product(merchant, program),
    }
    best: dict[str, float] = {}
    for round_ in range(1, args.rounds + 1):
        for name, run in contenders.items():
            reset(merchant, program)
            started = time.perf_counter()
            expired = run()
            elapsed = time.perf_counter() - started
            assert expired == args.cards, f"{name} expired {expired} of {args.cards} cards"
            best[name] = min(best.get(name, elapsed), elapsed)
            print(f"round {round_}: {name:<13} {elapsed:7.2f} s", flush=True)
    reset(merchant, program)

    ratio = best["product"] / best["sql"]
    print_table(
        f"Expiry of {args.cards} inactive cards (batch size {settings.LOYALTY_EXPIRY_BATCH_SIZE}), best of {args.rounds}",
        ["contender", "seconds", "product / contender"],
        [
            ["single SQL statement: cards + ledger", f"{best['sql']:.2f}", f"{ratio:.2f}x"],
            [
                "single SQL statement: cards + ledger + outbox",
                f"{best['sql + outbox']:.2f}",
                f"{best['product'] / best['sql + outbox']:.2f}x",
            ],
            ["product: expire_points()", f"{best['product']:.2f}", "1.00x"],
        ],
    )
    print(f"ratio product / SQL: {ratio:.2f}x (target <= 3x)")
    sys.exit(0 if ratio <= 3 else 1)


if __name__ == "__main__":
    main()
