"""Shared by the benchmarks: the PostgreSQL database they run on, Django set-up, figures and tables."""

import json
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# What `make bench` uses when DATABASE_URL / REDIS_URL are unset: a database and a Redis db of
# the benchmarks' own, so a run never touches the development or test data.
BENCH_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/loyalty_bench"
BENCH_REDIS_URL = "redis://127.0.0.1:6379/9"
# Rate limits raised so the load is measured, not refused (the limiter still runs on every request).
BENCH_RATE_LIMITS = "stamp=1000000/m,earn=1000000/m,redeem=1000000/m,void=1000000/m,adjust=1000000/m,pin=1000000/m"

# A benchmark script's last word: one line with its figures, read by bench/run.py.
RESULT_PREFIX = "BENCH-RESULT "


def setup_django() -> None:
    """Import path, settings module and django.setup() for a script run as `python bench/x.py`."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def ensure_postgres_database() -> None:
    """Create the database named in DATABASE_URL if it is missing (benchmarks need PostgreSQL)."""
    import dj_database_url
    import psycopg

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit("benchmarks need DATABASE_URL=postgres://… (figures are measured on PostgreSQL)")
    config = dj_database_url.parse(url)
    params = {
        "host": config["HOST"] or None,
        "port": config["PORT"] or None,
        "user": config["USER"] or None,
        "password": config["PASSWORD"] or None,
        "dbname": "postgres",
        "autocommit": True,
    }
    with psycopg.connect(**params) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [config["NAME"]]).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{config["NAME"]}"')


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(values: list[float]) -> float:
    return statistics.median(values)


def emit_result(name: str, data: dict) -> None:
    """The machine-readable figures of one benchmark script, for bench/run.py."""
    print(RESULT_PREFIX + json.dumps({"name": name, **data}), flush=True)


def print_table(title: str, headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)]
    print(f"\n{title}")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
    sys.stdout.flush()
