"""Every benchmark, then one table: each figure beside the limit measured in the same run.

    make bench                       # or: .venv/bin/python bench/run.py [--quick] [--only pos,wallet]
    make bench BENCH_ARGS=--scale    # also bench/scale.py (1M cards / 20M rows: a 10-15 minute build once)

Needs PostgreSQL and Redis running, and wrk and pgbench installed (`make bench` installs wrk
with apt-get when it is missing). DATABASE_URL and REDIS_URL default to a database and a Redis
db of the benchmarks' own (loyalty_bench, db 9), created and filled on first use, so a run
never touches development or test data. Each benchmark is its own script in bench/ (run
alone for details); this runner starts them one after the other, shows their output, and
reads the figures from their last line.
"""

import argparse
import atexit
import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from common import BENCH_DATABASE_URL, BENCH_REDIS_URL, RESULT_PREFIX, print_table  # noqa: E402

BENCHMARKS = ["queries", "pos", "expiry", "wallet", "pages"]
# Run only when asked (--scale, BENCH_SCALE=1 or --only scale): its data set takes minutes to build.
OPT_IN = ["scale"]
SCRIPTS = {
    "queries": "queries",
    "pos": "pos_throughput",
    "expiry": "expiry",
    "wallet": "wallet",
    "pages": "pages",
    "scale": "scale",
}


def default_environment() -> list[str]:
    notes = []
    for name, value in (("DATABASE_URL", BENCH_DATABASE_URL), ("REDIS_URL", BENCH_REDIS_URL)):
        if not os.environ.get(name):
            os.environ[name] = value
            notes.append(f"{name} was unset: using {value} (the benchmarks' own)")
    if not os.environ["DATABASE_URL"].startswith(("postgres://", "postgresql://")):
        sys.exit("bench: DATABASE_URL must be PostgreSQL (postgres://…); the figures are measured there")
    # Broker nudges and media of the benchmark processes go to a throw-away folder.
    if not os.environ.get("LOYALTY_VAR_DIR"):
        os.environ["LOYALTY_VAR_DIR"] = tempfile.mkdtemp(prefix="loyalty-bench-var-")
        atexit.register(shutil.rmtree, os.environ["LOYALTY_VAR_DIR"], ignore_errors=True)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    return notes


def check_services(needed: set[str]) -> None:
    import dj_database_url
    import psycopg
    import redis

    problems = []
    config = dj_database_url.parse(os.environ["DATABASE_URL"])
    try:
        psycopg.connect(
            host=config["HOST"] or None,
            port=config["PORT"] or None,
            user=config["USER"] or None,
            password=config["PASSWORD"] or None,
            dbname="postgres",
            connect_timeout=3,
        ).close()
    except psycopg.Error as exc:
        problems.append(f"PostgreSQL is not reachable at {config['HOST']}:{config['PORT']} ({exc})")
    try:
        redis.Redis.from_url(os.environ["REDIS_URL"], socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        problems.append(f"Redis is not reachable at {os.environ['REDIS_URL']} ({exc})")
    if "pos" in needed:
        for tool, package in (("wrk", "wrk"), ("pgbench", "postgresql (server package; pgbench ships with it)")):
            if not shutil.which(tool):
                problems.append(f"{tool} is not installed (apt-get install {package})")
    if problems:
        sys.exit("bench cannot run:\n  - " + "\n  - ".join(problems))


def python_speed() -> float:
    """Millions of simple Python loop iterations per second: how fast this machine's cores are for CPython."""
    best = 0.0
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for i in range(2_000_000):
            total += i
        best = max(best, 2.0 / (time.perf_counter() - started))
    return best


def run_script(name: str, arguments: list[str]) -> tuple[str, dict | None]:
    """Run bench/<name>.py, echo its output, return it and the figures of its result line."""
    script = f"{SCRIPTS[name]}.py"
    command = [sys.executable, str(HERE / script), *arguments]
    print(f"\n=== bench/{script} {' '.join(arguments)}", flush=True)
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in process.stdout:
        lines.append(line)
        if not line.startswith(RESULT_PREFIX):
            print(line, end="", flush=True)
    process.wait()
    output = "".join(lines)
    result = None
    for line in lines:
        if line.startswith(RESULT_PREFIX):
            result = json.loads(line[len(RESULT_PREFIX) :])
    if result is None and name != "expiry":
        print(f"!!! bench/{script} exited with {process.returncode} and no figures", flush=True)
    return output, result


def parse_expiry(output: str) -> dict | None:
    """bench/expiry.py prints its figures as text (a table, or lines in older versions); pick them out."""
    figures = {}
    patterns = {
        "cards": [r"[Ee]xpiry of (\d+) inactive cards"],
        "sql": [
            r"single SQL statement: cards \+ ledger\s*\|\s*([\d.]+)",
            r"single SQL statement \(cards \+ ledger\)\s+([\d.]+) s",
        ],
        "sql_outbox": [
            r"single SQL statement: cards \+ ledger \+ outbox\s*\|\s*([\d.]+)",
            r"single SQL statement \(cards \+ ledger \+ outbox\)\s+([\d.]+) s",
        ],
        "product": [r"product: expire_points\(\)\s*\|\s*([\d.]+)", r"product, expire_points\(\)\s+([\d.]+) s"],
    }
    for key, candidates in patterns.items():
        for pattern in candidates:
            match = re.search(pattern, output)
            if match:
                figures[key] = float(match.group(1))
                break
    return figures if {"sql", "product"} <= figures.keys() else None


def verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("met" if ok else "NOT met")


def summary_rows(results: dict) -> list[list[str]]:
    rows = []
    pos = results.get("pos")
    if pos:
        for row in pos["rows"]:
            clients = row["clients"]
            cpu = sum(row["cpu_ms"].values())
            ceiling = (os.cpu_count() or 1) * 1000 / cpu if cpu else 0
            rows.append(
                [
                    f"POS stamp/earn, {clients} clients: req/s",
                    f"{row['rps']:.0f}",
                    f"pgbench {row.get('pgbench_tps', 0):.0f} tps; CPU ceiling {ceiling:.0f} req/s",
                    f"{row['ratio']:.1%} of raw" if "ratio" in row else "-",
                    ">= 10% at 8 clients" if clients == 8 else "",
                    verdict(row["ratio"] >= 0.10) if clients == 8 and "ratio" in row else "-",
                ]
            )
            rows.append(
                [
                    f"POS {clients} clients: p50 / p95 / p99 ms",
                    f"{row['p50']:.0f} / {row['p95']:.0f} / {row['p99']:.0f}",
                    f"Little's law, mean latency >= {clients} clients / {ceiling:.0f} req/s = {clients / ceiling * 1000:.0f} ms"
                    if ceiling
                    else "",
                    "",
                    "p99 < 50 ms" if clients == 8 else "",
                    verdict(row["p99"] < 50) if clients == 8 else "-",
                ]
            )
            rows.append(
                [f"POS {clients} clients: errors", str(row["errors"]), "", "", "0", verdict(row["errors"] == 0)]
            )
            if "floor" in row:
                floor = row["floor"]
                rows.append(
                    [
                        f"floor, {clients} clients: GET staff/me/ req/s; p50 / p99 ms",
                        f"{floor['rps']:.0f}; {floor['p50']:.0f} / {floor['p99']:.0f}",
                        "the cheapest authenticated call of the same server (token, staff, JSON)",
                        f"POS = {row['rps'] / floor['rps']:.0%} of it" if floor["rps"] else "-",
                        "",
                        "-",
                    ]
                )
            rows.append(
                [
                    f"POS {clients} clients: CPU ms per request",
                    f"{row['cpu_ms']['server']:.1f} app + {row['cpu_ms']['db']:.1f} db + {row['cpu_ms']['driver']:.1f} wrk",
                    f"{os.cpu_count()} cores = {(os.cpu_count() or 1) * 1000:.0f} CPU ms/s",
                    "",
                    "",
                    "-",
                ]
            )
    expiry = results.get("expiry")
    if expiry:
        ratio = expiry["product"] / expiry["sql"]
        rows.append(
            [
                f"expiry of {int(expiry.get('cards', 0)):,} inactive cards: s",
                f"{expiry['product']:.2f}",
                f"single SQL statement {expiry['sql']:.2f} s"
                + (f" ({expiry['sql_outbox']:.2f} s with outbox rows)" if "sql_outbox" in expiry else ""),
                f"{ratio:.2f}x",
                "<= 3x",
                verdict(ratio <= 3),
            ]
        )
    wallet = results.get("wallet")
    if wallet:
        rows.append(
            [
                ".pkpass build + sign per second (1 core)",
                f"{wallet['pkpass']:.0f}",
                f"RSA-2048 signatures {wallet['rsa']:.0f}/s",
                f"{wallet['pkpass'] / wallet['rsa']:.0%}",
                ">= 200/s",
                verdict(wallet["pkpass"] >= 200),
            ]
        )
        rows.append(
            [
                "Google Save JWT per second (1 core)",
                f"{wallet['jwt']:.0f}",
                f"RSA-2048 signatures {wallet['rsa']:.0f}/s",
                f"{wallet['jwt'] / wallet['rsa']:.0%}",
                "",
                "-",
            ]
        )
    pages = results.get("pages")
    if pages:
        for row in pages["rows"]:
            rows.append(
                [
                    f"{row['page']}: median / p95 ms",
                    f"{row['median_ms']:.1f} / {row['p95_ms']:.1f}",
                    f"{row['queries']} database round trips",
                    "",
                    "",
                    "-",
                ]
            )
    scale = results.get("scale")
    if scale:
        for row in scale["rows"]:
            rows.append(
                [
                    f"scale: {row['figure']}",
                    _scale_value(row["500k"]),
                    f"same figure at 10k cards: {_scale_value(row['10k'])}",
                    "-" if row["ratio"] is None else f"{row['ratio']:.2f}x",
                    row.get("limit", ""),
                    row["verdict"],
                ]
            )
    queries = results.get("queries")
    if queries:
        for row in queries["rows"]:
            rows.append(
                [
                    f"round trips: {row['call']}",
                    str(row["round_trips"]),
                    f"{row['queries']} queries + transaction control"
                    + (f"; {row['round_trips_no_key']} without Idempotency-Key" if row["round_trips_no_key"] else ""),
                    "",
                    "",
                    "-",
                ]
            )
    return rows


def _scale_value(figure: dict | None) -> str:
    if not figure:
        return "-"
    if "error" in figure:
        return f"ERROR: {figure['error']}"
    if figure["kind"] == "request":
        return f"{figure['ms']:.1f} ms"
    if figure["kind"] == "export":
        return f"{figure['rate']:,.0f} rows/s"
    if figure["kind"] == "expiry":
        return f"{figure['seconds']:.1f} s ({figure['rate']:,.0f} cards/s)"
    return f"{figure['seconds']:.0f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(BENCHMARKS), help=f"comma-separated subset of {BENCHMARKS + OPT_IN}")
    parser.add_argument("--quick", action="store_true", help="shorter runs (figures less steady)")
    parser.add_argument(
        "--scale",
        action="store_true",
        default=os.environ.get("BENCH_SCALE", "") not in ("", "0"),
        help="also run bench/scale.py (builds 1M cards / 20M ledger rows once: 10-15 minutes); or BENCH_SCALE=1",
    )
    args = parser.parse_args()
    selected = [name for name in args.only.split(",") if name]
    if args.scale and "scale" not in selected:
        selected.append("scale")
    unknown = set(selected) - set(BENCHMARKS) - set(OPT_IN)
    if unknown:
        sys.exit(f"unknown benchmark(s): {', '.join(sorted(unknown))}")

    notes = default_environment()
    check_services(set(selected))
    cores = os.cpu_count() or 1
    started = datetime.datetime.now().astimezone()
    speed = python_speed()
    header = [
        f"date: {started:%Y-%m-%d %H:%M %Z}",
        f"machine: {cores} cores (nproc), {platform.processor() or platform.machine()}, "
        f"{_cpu_model()}; CPython loop {speed:.1f} M iterations/s",
        f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"DATABASE_URL={os.environ['DATABASE_URL']}  REDIS_URL={os.environ['REDIS_URL']}",
        *notes,
    ]
    print("\n".join(header), flush=True)

    arguments = {
        "queries": [],
        "pos": ["--duration", "8" if args.quick else "20"],
        "expiry": ["--cards", "20000" if args.quick else "100000", "--rounds", "1" if args.quick else "2"],
        "wallet": ["--seconds", "2" if args.quick else "5"],
        "pages": ["--requests", "60" if args.quick else "200"],
        "scale": ["--rounds", "3" if args.quick else "7"],
    }
    results: dict[str, dict] = {}
    for name in selected:
        output, result = run_script(name, arguments[name])
        if name == "expiry":
            result = parse_expiry(output)
            if result is None:
                print("!!! could not read bench/expiry.py's figures", flush=True)
        if result is not None:
            results[name] = result

    print()
    print("\n".join(header))
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print_table(
        "Benchmarks: each figure beside its limit, measured in this run",
        ["figure", "measured", "limit (same run, same database)", "ratio", "target", "verdict"],
        summary_rows(results),
    )
    missing = [name for name in selected if name not in results]
    if missing:
        sys.exit(f"no figures from: {', '.join(missing)}")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    main()
