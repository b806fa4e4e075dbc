"""Member import: 100,000 CSV rows through customers.imports.import_members on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/loyalty_bench .venv/bin/python bench/import_members.py [--rows 100000]

Writes a CSV like a merchant's export (every column filled, a point and stamp balance on each row,
day-first birth dates, a semicolon file with a BOM), imports it into a fresh merchant (the check
pass, then the write pass in one transaction), prints the time of each pass and rows per second
beside the target (100,000 rows in about a minute: 1,667 rows/s), checks the ledger of the new cards,
imports the same file again (nothing may change) and removes the merchant's data.
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
if not os.environ.get("REDIS_URL"):
    os.environ.setdefault("LOYALTY_VAR_DIR", tempfile.mkdtemp(prefix="bench-import-"))

from common import emit_result, ensure_postgres_database, print_table  # noqa: E402

TARGET_SECONDS_PER_100K = 60


def write_file(path: Path, rows: int, prefix: int = 90) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        handle.write(
            "email;first_name;last_name;phone;birth_date;points;stamps;card_number;enrolled_at;marketing_opt_in\r\n"
        )
        for n in range(rows):
            handle.write(
                f"member{n}@example.com;Ann;Member {n};+336{n:08d};{1 + n % 28:02d}/{1 + n % 12:02d}/{1950 + n % 50};"
                f"{n % 500};{n % 10};{prefix}{n:010d};20{10 + n % 15}-0{1 + n % 9}-1{n % 9};{'yes' if n % 3 else 'no'}\r\n"
            )


def remove(merchant) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for table, column in (
            ("loyalty_loyaltytransaction", "merchant_id"),
            ("loyalty_loyaltycard", "merchant_id"),
            ("customers_customer", "merchant_id"),
            ("loyalty_loyaltyprogram", "merchant_id"),
        ):
            cursor.execute(f"DELETE FROM {table} WHERE {column} = %s", [merchant.pk])
    merchant.delete()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true", help="Keep the imported merchant (default: removed).")
    args = parser.parse_args()
    ensure_postgres_database()
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from customers.imports import import_members
    from loyalty.models import LoyaltyCard, LoyaltyProgram
    from loyalty.selectors import cards_out_of_balance
    from merchants.models import Merchant

    call_command("migrate", verbosity=0)
    merchant = Merchant.objects.create(slug=f"bench-import-{int(time.time())}", name="Benchmark import")
    LoyaltyProgram.objects.create(merchant=merchant, name="Bench", kind="hybrid", welcome_bonus=50)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "members.csv"
        write_file(path, args.rows, prefix=10 + merchant.pk % 90)  # card numbers of this run only
        size = path.stat().st_size
        print(f"{args.rows:,} rows, {size / 1024 / 1024:.1f} MB; importing into {merchant.slug}…", flush=True)
        marks = {}

        def progress(report):
            if report.total_rows and "write" not in marks:
                marks["write"] = time.perf_counter()

        def analyze():
            # What autovacuum does on a live database: planner statistics for the tables the import reads.
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE customers_customer, loyalty_loyaltycard, loyalty_loyaltytransaction")

        try:
            analyze()
            with path.open("rb") as handle:
                started = time.perf_counter()
                report = import_members(handle, merchant=merchant, on_progress=progress, max_rows=max(args.rows, 1))
                finished = time.perf_counter()
            assert report.written and report.created == args.rows, report.problems[:3]
            out_of_balance = cards_out_of_balance().filter(merchant=merchant).count()
            cards = LoyaltyCard.objects.filter(merchant=merchant).count()
            analyze()
            with path.open("rb") as handle:
                again_started = time.perf_counter()
                again = import_members(handle, merchant=merchant, max_rows=max(args.rows, 1))
                again_seconds = time.perf_counter() - again_started
            assert again.created == 0 and again.existing == args.rows, again.problems[:3]
        finally:
            if not args.keep:
                remove(merchant)
    total = finished - started
    check = marks.get("write", finished) - started
    write = finished - marks.get("write", finished)
    rate = args.rows / total
    target_rate = 100_000 / TARGET_SECONDS_PER_100K
    print_table(
        f"Member import, {args.rows:,} rows (PostgreSQL {connection.pg_version // 10000})",
        ["figure", "measured", "target"],
        [
            ["whole import", f"{total:.1f} s, {rate:,.0f} rows/s", f"{target_rate:,.0f} rows/s (100,000 in ~60 s)"],
            ["check pass (read, validate, look up)", f"{check:.1f} s", ""],
            ["write pass (one transaction, bulk inserts)", f"{write:.1f} s", ""],
            ["cards made / out of balance with the ledger", f"{cards:,} / {out_of_balance}", f"{args.rows:,} / 0"],
            ["same file again (changes nothing)", f"{again_seconds:.1f} s, {again.existing:,} unchanged", ""],
        ],
    )
    print(f"target {'met' if rate >= target_rate * 0.9 else 'NOT met'}: {rate:,.0f} rows/s against {target_rate:,.0f}")
    emit_result(
        "import_members",
        {
            "rows": args.rows,
            "seconds": round(total, 2),
            "rows_per_second": round(rate),
            "check_seconds": round(check, 2),
        },
    )


if __name__ == "__main__":
    main()
