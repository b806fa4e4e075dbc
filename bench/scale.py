"""Scale: a merchant with 500,000 cards and 10 million ledger rows beside one with 10,000 cards.

    .venv/bin/python bench/scale.py [--rebuild] [--rounds 7] [--build-only] [--measure-only] [--explain] [--only TEXT]
    make bench BENCH_ARGS="--scale"        # or: bench/run.py --only scale

Builds (once; `--rebuild` forces it) the SPEC's data set in the database loyalty_bench_scale:
1,000,000 cards and 20,000,000 ledger rows over 50 merchants, bench-scale-big holding 500,000
cards and 10,000,000 rows (bench/scale_plan.py says what the data look like, bench/scale_dataset.py
how they are made), and the comparison set in loyalty_bench_scale_small: one merchant of 10,000
cards and 200,000 rows made by the same code. The build takes 10-15 minutes on 2 cores and prints
its progress.

Then measures, on each data set, in a process of its own with production-like settings (DEBUG
off, as bench/profile_pos.py): server time, i.e. Django's handling of the request in this process
through django.test.Client (middleware, view, templates, every query; not the network), the
median of --rounds requests after a warm-up, and the SQL queries of one request. The staff API
is called with a device token of the merchant's owner, the admin with the owner's session.
Figures: card lookup by number, QR, email and phone; card detail; a stamp (undone
afterwards); a heavy card's transactions, pages 1 and 500; the admin lists of cards, customers
and the ledger, plain, searched (a name, an email, a card number) and filtered; the insights
summary of 30 and 365 days; the members export (rows/s); the nightly expiry of the 100,000 due
cards (2,000 on the small set), whose effects are undone afterwards so the data set stays reusable.

Each figure is printed for both data sets with the ratio (500k / 10k) beside the issue's target:
under 300 ms server time and under 2x growth (bench/scale_measure.py measures). `--explain`
prints EXPLAIN (ANALYZE, BUFFERS) of the slowest query of each figure over the limit. DATABASE_URL, when set, names the PostgreSQL
server (the databases' names are this benchmark's own); REDIS_URL the Redis (rate limits).
"""

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import BENCH_RATE_LIMITS, BENCH_REDIS_URL, emit_result, print_table  # noqa: E402
from scale_measure import LIMIT_MS, describe  # noqa: E402

BIG_DATABASE = "loyalty_bench_scale"
SMALL_DATABASE = "loyalty_bench_scale_small"
DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432/"
FIGURES_PREFIX = "SCALE-FIGURES "
LIMIT_RATIO = 2.0
STATEMENT_TIMEOUT_S = 120


# --- the parent: databases, child processes, the table ---------------------------------------------


def database_url(name: str) -> str:
    """DATABASE_URL's server (or the local default) with this benchmark's database name."""
    parts = urlsplit(os.environ.get("DATABASE_URL") or DEFAULT_SERVER)
    if parts.scheme not in ("postgres", "postgresql"):
        sys.exit("bench/scale.py needs PostgreSQL: DATABASE_URL=postgres://… (or unset for the local server)")
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", "", ""))


def _connect(dbname: str):
    import dj_database_url
    import psycopg

    config = dj_database_url.parse(database_url(dbname))
    return psycopg.connect(
        host=config["HOST"] or None,
        port=config["PORT"] or None,
        user=config["USER"] or None,
        password=config["PASSWORD"] or None,
        dbname=dbname,
        autocommit=True,
    )


def built(name: str) -> bool:
    """Whether database `name` holds a finished build (its marker row)."""
    from scale_dataset import MARKER_TABLE

    with _connect("postgres") as server:
        if not server.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return False
    with _connect(name) as conn:
        if conn.execute("SELECT to_regclass(%s)", [MARKER_TABLE]).fetchone()[0] is None:
            return False
        return conn.execute(f"SELECT count(*) FROM {MARKER_TABLE}").fetchone()[0] > 0


def recreate_database(name: str) -> None:
    with _connect("postgres") as server:
        server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        server.execute(f'CREATE DATABASE "{name}"')


def child_environment(database: str) -> dict:
    """Production-like settings (bench/profile_pos.py's), this data set's database, a throw-away var dir."""
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": database_url(database),
            "REDIS_URL": os.environ.get("REDIS_URL") or BENCH_REDIS_URL,
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "testserver",
            "SECURE_SSL_REDIRECT": "false",
            "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
            "LOYALTY_RATE_LIMITS": BENCH_RATE_LIMITS,
            "LOG_LEVEL": "WARNING",
            "DJANGO_SETTINGS_MODULE": "config.settings",
        }
    )
    for name in [n for n in env if n.startswith(("LOYALTY_GOOGLE_", "LOYALTY_APPLE_"))]:
        del env[name]
    return env


def run_child(dataset: str, phase: str, extra: list[str], var_dir: str) -> dict | None:
    database = BIG_DATABASE if dataset == "big" else SMALL_DATABASE
    env = child_environment(database)
    env["LOYALTY_VAR_DIR"] = var_dir
    command = [sys.executable, str(Path(__file__).resolve()), "--phase", phase, "--dataset", dataset, *extra]
    process = subprocess.Popen(command, cwd=HERE.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)  # fmt: skip
    figures = None
    for line in process.stdout:
        if line.startswith(FIGURES_PREFIX):
            figures = json.loads(line[len(FIGURES_PREFIX) :])
        else:
            print(line, end="", flush=True)
    process.wait()
    if process.returncode:
        print(f"!!! bench/scale.py --phase {phase} --dataset {dataset} exited with {process.returncode}", flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rebuild", action="store_true", help="build the data sets again even if they exist")
    parser.add_argument("--rounds", type=int, default=7, help="timed requests per figure (median), after a warm-up")
    parser.add_argument("--build-only", action="store_true")
    parser.add_argument("--measure-only", action="store_true")
    parser.add_argument(
        "--explain",
        action="store_true",
        help="after measuring, EXPLAIN (ANALYZE, BUFFERS) the slowest query of each figure over the limit "
        "on the 500k data set (runs those queries again: minutes)",
    )
    parser.add_argument("--only", metavar="TEXT", help="measure only the figures whose name holds TEXT (e.g. expiry)")
    parser.add_argument("--phase", choices=["build", "measure"], help=argparse.SUPPRESS)
    parser.add_argument("--dataset", choices=["big", "small"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase == "build":
        return build_phase(args.dataset)
    if args.phase == "measure":
        return measure_phase(args.dataset, args.rounds, args.explain, args.only)

    var_dir = tempfile.mkdtemp(prefix="loyalty-bench-scale-")
    try:
        started = time.perf_counter()
        print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
        facts = {}
        if not args.measure_only:
            for dataset, database in (("small", SMALL_DATABASE), ("big", BIG_DATABASE)):
                if args.rebuild or not built(database):
                    recreate_database(database)
                else:
                    print(f"[{dataset}] {database} is built already (--rebuild to make it again)", flush=True)
                facts[dataset] = run_child(dataset, "build", [], var_dir)
                if facts[dataset] is None:
                    sys.exit(f"the {dataset} data set could not be built")
            print(f"build phase: {time.perf_counter() - started:.0f} s", flush=True)
        if args.build_only:
            return None
        results = {}
        for dataset in ("small", "big"):
            extra = ["--rounds", str(args.rounds)] + (["--explain"] if args.explain and dataset == "big" else [])
            extra += ["--only", args.only] if args.only else []
            results[dataset] = run_child(dataset, "measure", extra, var_dir)
            if results[dataset] is None:
                sys.exit(f"no figures from the {dataset} data set")
        report(results["small"], results["big"])
        print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)
    return None


def compare(small: dict | None, big: dict | None) -> tuple[str, str, str, float | None]:
    """(ratio, limit, verdict, ratio value): the ratio is how much more each unit of work costs at 500k."""
    if not small or not big or "error" in small or "error" in big:
        return "-", _limit(big or small or {}), "ERROR", None
    if big["kind"] == "request":
        ratio = big["ms"] / small["ms"] if small["ms"] else float("inf")
        problems = []
        if big["ms"] >= LIMIT_MS:
            problems.append(f">= {LIMIT_MS:.0f} ms")
        if ratio >= LIMIT_RATIO:
            problems.append(f"grows {ratio:.1f}x")
    elif big["kind"] == "export":
        ratio = small["rate"] / big["rate"] if big["rate"] else float("inf")
        problems = [f"per-row cost grows {ratio:.1f}x"] if ratio >= LIMIT_RATIO else []
    else:
        ratio = small["rate"] / big["rate"] if big["rate"] else float("inf")
        problems = []
        if big["seconds"] >= 300:
            problems.append("over 5 minutes")
        if ratio >= LIMIT_RATIO:
            problems.append(f"per-{'row' if big['kind'] == 'job' else 'card'} cost grows {ratio:.1f}x")
    verdict = "met" if not problems else "NOT met: " + ", ".join(problems)
    return f"{ratio:.2f}x", _limit(big), verdict, ratio


def _limit(figure: dict) -> str:
    kind = figure.get("kind", "request")
    if kind == "request":
        return f"< {LIMIT_MS:.0f} ms, < {LIMIT_RATIO:.0f}x"
    if kind == "export":
        return f"per-row cost < {LIMIT_RATIO:.0f}x"
    return f"< 5 min, per-{'row' if kind == 'job' else 'card'} cost < {LIMIT_RATIO:.0f}x"


def report(small: dict, big: dict) -> None:
    for name, result in (("10k", small), ("500k", big)):
        facts = result["facts"]
        print(
            f"{name} data set ({facts['database']}): {facts['cards']:,} cards, {facts['rows']:,} ledger rows, "
            f"{facts['merchants']} merchant(s); built {facts['built_at']} in {facts['seconds']['total']:.0f} s "
            f"({', '.join(f'{k} {v:.0f} s' for k, v in facts['seconds'].items() if k != 'total')}); "
            f"measured merchant {facts['main']['slug']}: {facts['main']['cards']:,} cards, "
            f"{facts['main']['rows']:,} rows, {facts['due']:,} due for expiry, heavy card {facts['heavy_card']} "
            f"({facts['heavy_rows']:,} rows)",
            flush=True,
        )
    rebuild = "rebuild_insights, every merchant (a build step)"
    for result in (small, big):
        facts = result["facts"]
        seconds = max(facts["seconds"]["rebuild_insights"], 1e-3)
        rows_ = facts["rows"]
        result["figures"][rebuild] = {"kind": "job", "seconds": seconds, "rows": rows_, "rate": rows_ / seconds}
    rows, data = [], []
    for name in [*big["order"], *([] if big.get("only") else [rebuild])]:
        s, b = small["figures"].get(name), big["figures"].get(name)
        ratio, limit, verdict, value = compare(s, b)
        rows.append([name, describe(s), describe(b), ratio, limit, verdict])
        data.append({"figure": name, "10k": s, "500k": b, "ratio": value, "limit": limit, "verdict": verdict})
    print_table(
        f"Scale: the same figure on 10,000 cards / 200,000 rows and on 500,000 cards / 10,000,000 rows "
        f"(of 1M cards / 20M rows); server time, median of {big['rounds']} after a warm-up; q = SQL queries",
        ["figure", "10k cards", "500k cards", "ratio", "limit", "verdict"],
        rows,
    )
    missed = [row for row in data if row["verdict"] != "met"]
    print(f"\n{len(data) - len(missed)} of {len(data)} figures meet their targets.", flush=True)
    emit_result(
        "scale",
        {
            "rows": data,
            "build_seconds": {"10k": small["facts"]["seconds"], "500k": big["facts"]["seconds"]},
        },
    )


# --- the children ---------------------------------------------------------------------------------


def _setup(statement_timeout: bool = False) -> None:
    from common import setup_django

    setup_django()
    from django.conf import settings

    # Hashed static names need `collectstatic` first; the pages' work is the same without.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    if statement_timeout:  # a pathological query is reported as an error instead of holding the run for ever
        options = settings.DATABASES["default"].setdefault("OPTIONS", {})
        options["options"] = f"-c statement_timeout={STATEMENT_TIMEOUT_S * 1000}"


def build_phase(dataset: str) -> None:
    from common import ensure_postgres_database, migrate

    ensure_postgres_database()
    _setup()
    import scale_dataset
    import scale_plan

    migrate()
    facts = scale_dataset.marker()
    if facts is None:
        name = os.environ["DATABASE_URL"].rsplit("/", 1)[1]
        spec = scale_plan.big_dataset(name) if dataset == "big" else scale_plan.small_dataset(name)
        facts = scale_dataset.build(spec)
    print(FIGURES_PREFIX + json.dumps(facts), flush=True)


def measure_phase(dataset: str, rounds: int, explain: bool, only: str | None) -> None:
    _setup(statement_timeout=True)
    from scale_measure import measure

    print(FIGURES_PREFIX + json.dumps(measure(dataset, rounds, explain, only)), flush=True)


if __name__ == "__main__":
    main()
