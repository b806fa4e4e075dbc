"""POS throughput: the product under gunicorn against the raw-SQL limit measured by pgbench.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/loyalty_bench REDIS_URL=redis://127.0.0.1:6379/9 \
        .venv/bin/python bench/pos_throughput.py [--duration 20] [--clients 8,32] [--workers 3 --threads 1]

Needs PostgreSQL, Redis, wrk and pgbench. The product is served by gunicorn as the README
recommends for production (DEBUG off, sync workers, persistent database connections, Redis
cache for the rate limiter with the limits raised so the load is not refused, the Celery nudge
published to Redis after each commit). wrk (C, event loop, one Lua script, a few per cent of a
core at these rates, so it is not the bottleneck) drives it: half the requests stamp, half earn
points, on random cards of 10,000, each with a fresh Idempotency-Key as the POS page sends.
pgbench runs the equivalent transaction in SQL on the same database with the same number of
clients: lock the card row, update it, insert the ledger row and the wallet-outbox row.

The floor beside them is the same server answering its cheapest authenticated call,
GET /api/v1/staff/me/ (token, staff membership, a small JSON answer, no business work), with the
same clients: no POS operation can be faster than that on this machine. With N clients waiting
for their answers, mean latency is N / throughput (Little's law), so the table also prints the
throughput a 50 ms p99 would need.

Every gunicorn worker (and thread) is warmed up first (the first request of a worker imports the URLconf,
DRF, the schema generator, httpx, Pillow: about a second; each thread opens its own database
connection). CPU time is read from /proc for gunicorn's processes and for the PostgreSQL
backends serving the benchmark database, and from rusage for wrk, so each figure comes with the
CPU it cost per request: 2 cores divided by that cost is the ceiling of this machine.
"""

import argparse
import os
import re
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from common import (  # noqa: E402
    BENCH_RATE_LIMITS,
    emit_result,
    ensure_postgres_database,
    migrate,
    print_table,
    setup_django,
)
from open_loop import run_open_loop  # noqa: E402

SLUG = "bench-pos"
STAFF = 32
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

WRK_SCRIPT = r"""
local cards, tokens = {}, {}
for line in io.lines(os.getenv("BENCH_CARDS")) do cards[#cards + 1] = line end
for line in io.lines(os.getenv("BENCH_TOKENS")) do tokens[#tokens + 1] = line end
local threads, next_id = {}, 1

function setup(thread)
  thread:set("id", next_id)
  threads[#threads + 1] = thread
  next_id = next_id + 1
end

function init(args)
  math.randomseed(id * 7919 + os.time())
  counter, errors = 0, 0
  token = tokens[((id - 1) % #tokens) + 1]
  floor = os.getenv("BENCH_MODE") == "floor"
end

function request()
  counter = counter + 1
  if floor then
    return wrk.format("GET", "/api/v1/staff/me/", {["Authorization"] = "Token " .. token})
  end
  local card = cards[math.random(#cards)]
  local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Token " .. token,
    ["Idempotency-Key"] = "wrk-" .. os.getenv("BENCH_RUN") .. "-" .. id .. "-" .. counter,
  }
  if counter % 2 == 0 then
    return wrk.format("POST", "/api/v1/cards/" .. card .. "/stamp/", headers, "{}")
  end
  return wrk.format("POST", "/api/v1/cards/" .. card .. "/earn-points/", headers, '{"purchase_amount": "12.50"}')
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    errors = errors + 1
    if errors <= 3 then io.stderr:write("HTTP " .. status .. " " .. body:sub(1, 200) .. "\n") end
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do bad = bad + thread:get("errors") end
  bad = bad + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT requests=%d seconds=%.3f p50=%.3f p95=%.3f p99=%.3f errors=%d\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3, latency:percentile(95) / 1e3,
    latency:percentile(99) / 1e3, bad))
end
"""

PGBENCH_SCRIPT = r"""
\set n random(0, :ncards - 1)
\set card :minid + :n
BEGIN;
SELECT id FROM loyalty_loyaltycard WHERE id = :card FOR NO KEY UPDATE;
UPDATE loyalty_loyaltycard SET stamp_count = stamp_count + 1, lifetime_stamps = lifetime_stamps + 1,
  last_stamp_at = now(), last_activity_at = now(), updated_at = now()
  WHERE id = :card RETURNING stamp_count AS s, points_balance AS p \gset
INSERT INTO loyalty_loyaltytransaction (type, stamps_delta, points_delta, stamps_after, points_after,
  order_reference, reason, idempotency_key, created_at, card_id, merchant_id, store_id, staff_user_id)
  VALUES ('stamp', 1, 0, :s, :p, '', '', md5(random()::text || clock_timestamp()::text), now(), :card,
  :merchant, :store, :staff);
INSERT INTO wallet_walletupdate (card_id, status, created_at, next_attempt_at, attempts, last_error)
  VALUES (:card, 'pending', now(), now(), 0, '') ON CONFLICT DO NOTHING;
END;
"""


def prepare(cards: int) -> dict:
    """The benchmark merchant: a program without cooldown, caps or PIN, 10,000 cards, staff with tokens."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from customers.models import Customer
    from loyalty.models import LoyaltyCard, LoyaltyProgram
    from merchants.models import Merchant, StaffMember, Store
    from merchants.tokens import issue_token

    migrate()
    merchant, _ = Merchant.objects.get_or_create(slug=SLUG, defaults={"name": "Bench POS"})
    store, _ = Store.objects.get_or_create(merchant=merchant, code="main", defaults={"name": "Main"})
    program, _ = LoyaltyProgram.objects.get_or_create(
        merchant=merchant,
        is_active=True,
        defaults={"name": "Bench", "kind": "hybrid", "stamps_target": 10, "require_staff_pin": False},
    )
    have = LoyaltyCard.objects.filter(merchant=merchant).count()
    if have < cards:
        print(f"creating {cards - have} cards…", file=sys.stderr)
        customers = Customer.objects.bulk_create(
            [
                Customer(merchant=merchant, first_name="Bench", last_name=str(i), email=f"bench{i}@example.com")
                for i in range(have, cards)
            ],
            batch_size=2000,
        )
        LoyaltyCard.objects.bulk_create(
            [LoyaltyCard(merchant=merchant, customer=c, program=program, enrolled_at_store=store) for c in customers],
            batch_size=2000,
        )
        # Statistics now, as autovacuum would soon: a first run measured 102 req/s (13.5 ms of PostgreSQL
        # per stamp) on plans made for tables the planner still thought empty, 270 req/s after ANALYZE.
        with connection.cursor() as cursor:
            for table in ("customers_customer", "loyalty_loyaltycard", "loyalty_loyaltytransaction"):
                cursor.execute(f"ANALYZE {table}")
    tokens = []
    for i in range(STAFF):
        user, _ = get_user_model().objects.get_or_create(username=f"bench-cashier-{i}")
        member, _ = StaffMember.objects.get_or_create(user=user, defaults={"merchant": merchant, "role": "cashier"})
        member.stores.set([store])
        tokens.append(issue_token(user=user, device="bench")[0])
    numbers = list(LoyaltyCard.objects.filter(merchant=merchant).order_by("pk").values_list("card_number", flat=True))
    ids = LoyaltyCard.objects.filter(merchant=merchant).order_by("pk").values_list("pk", flat=True)
    first, last = ids.first(), ids.last()
    if last - first + 1 != len(numbers):
        raise SystemExit("bench cards are not contiguous ids; drop the bench database and rerun")
    staff_user = StaffMember.objects.filter(merchant=merchant).values_list("user_id", flat=True).first()
    return {
        "numbers": numbers[:cards],
        "tokens": tokens,
        "minid": first,
        "ncards": min(cards, len(numbers)),
        "merchant": merchant.pk,
        "store": store.pk,
        "staff": staff_user,
    }


def reset_outbox() -> None:
    """The pending wallet updates earlier runs left (no worker delivers them here), so each run starts alike."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM wallet_walletupdate WHERE card_id IN "
            "(SELECT id FROM loyalty_loyaltycard WHERE merchant_id = (SELECT id FROM merchants_merchant WHERE slug = %s))",
            [SLUG],
        )
        cursor.execute("DELETE FROM loyalty_idempotencyrecord WHERE started_at < now() - interval '1 hour'")
        cursor.execute("VACUUM ANALYZE loyalty_loyaltycard")
        cursor.execute("VACUUM ANALYZE wallet_walletupdate")


def settle_tables() -> None:
    """Statistics of what the closed loops and pgbench wrote (tens of thousands of rows), as autovacuum
    would gather them within a minute. On a new database the open loop otherwise met plans made when the
    ledger was nearly empty: 96 of 136 req/s answered, p99 4 s (137 of 137 without pgbench before it)."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table in (
            "loyalty_loyaltycard",
            "loyalty_loyaltytransaction",
            "wallet_walletupdate",
            "loyalty_idempotencyrecord",
        ):
            cursor.execute(f"ANALYZE {table}")


# --- CPU accounting -----------------------------------------------------------------------


def _proc_cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


class CpuMeter:
    """CPU seconds used by gunicorn (master and workers) and the database's backends between start and stop.

    Backends come and go (Django closes a persistent connection after CONN_MAX_AGE), so they are
    sampled twice a second in the background; a backend that ends between two samples loses at
    most half a second of its CPU time from the count.
    """

    INTERVAL = 0.5

    def __init__(self, server_pid: int | None, dbname: str):
        import dj_database_url
        import psycopg

        self.server_pid, self.dbname = server_pid, dbname
        config = dj_database_url.parse(os.environ["DATABASE_URL"])
        self._connect = lambda: psycopg.connect(
            host=config["HOST"] or None,
            port=config["PORT"] or None,
            user=config["USER"] or None,
            password=config["PASSWORD"] or None,
            dbname=config["NAME"],
            autocommit=True,
        )

    def _server(self) -> dict[int, float]:
        pids = [self.server_pid, *_children(self.server_pid)] if self.server_pid else []
        return {pid: _proc_cpu_seconds(pid) for pid in pids}

    def _backends(self, monitor) -> dict[int, float]:
        rows = monitor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [self.dbname]
        ).fetchall()
        return {pid: _proc_cpu_seconds(pid) for (pid,) in rows}

    def _watch(self) -> None:
        with self._connect() as monitor:
            while not self._stop.is_set():
                for pid, cpu in self._backends(monitor).items():
                    self.first_db.setdefault(pid, 0.0 if self.started_db else cpu)
                    self.last_db[pid] = max(cpu, self.last_db.get(pid, 0.0))
                self.started_db = True
                self._stop.wait(self.INTERVAL)

    def start(self) -> None:
        import threading

        self.first_db: dict[int, float] = {}
        self.last_db: dict[int, float] = {}
        self.started_db = False
        self._stop = threading.Event()
        self.before_server = self._server()
        self.before_children = resource.getrusage(resource.RUSAGE_CHILDREN)
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        while not self.started_db and self._thread.is_alive():
            time.sleep(0.01)

    def stop(self) -> dict:
        after_server = self._server()
        after_children = resource.getrusage(resource.RUSAGE_CHILDREN)
        self._stop.set()
        self._thread.join(timeout=10)
        before_children = self.before_children
        return {
            "server": sum(cpu - self.before_server.get(pid, 0.0) for pid, cpu in after_server.items()),
            "db": sum(self.last_db[pid] - self.first_db[pid] for pid in self.last_db),
            "driver": (after_children.ru_utime + after_children.ru_stime)
            - (before_children.ru_utime + before_children.ru_stime),
        }


# --- the product under gunicorn --------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(port: int, args: argparse.Namespace) -> subprocess.Popen:
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": os.environ["SECRET_KEY"],
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "LOYALTY_RATE_LIMITS": BENCH_RATE_LIMITS,
        "LOG_LEVEL": "WARNING",
    }
    command = [
        str(ROOT / ".venv/bin/gunicorn"),
        "config.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(args.workers),
        "--worker-class",
        args.worker_class,
        "--threads",
        str(args.threads),
        "--keep-alive",
        str(args.keep_alive),
        "--log-level",
        "warning",
    ]
    if args.preload:
        command.append("--preload")
    process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    for _ in range(300):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process
        except OSError:
            if process.poll() is not None:
                raise SystemExit("gunicorn exited at start-up") from None
            time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    raise SystemExit("gunicorn did not start")


def run_wrk(port: int, clients: int, seconds: int, files: dict, *, floor: bool = False) -> dict:
    """Stamps and earns on random cards, or with ``floor`` the cheapest authenticated call (staff/me)."""
    env = {
        **os.environ,
        "BENCH_MODE": "floor" if floor else "pos",
        "BENCH_CARDS": files["cards"],
        "BENCH_TOKENS": files["tokens"],
        "BENCH_RUN": secrets.token_hex(4),
    }
    threads = min(2, clients)
    output = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(clients), "-d", f"{seconds}s", "--timeout", "10s", "-s", files["wrk"],
         f"http://127.0.0.1:{port}"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )  # fmt: skip
    match = re.search(
        r"RESULT requests=(\d+) seconds=([\d.]+) p50=([\d.]+) p95=([\d.]+) p99=([\d.]+) errors=(\d+)", output.stdout
    )
    if not match:
        raise SystemExit(f"wrk said:\n{output.stdout}\n{output.stderr}")
    requests, duration, p50, p95, p99, errors = match.groups()
    if output.stderr.strip():
        print(output.stderr.strip(), file=sys.stderr)
    return {
        "requests": int(requests),
        "rps": int(requests) / float(duration),
        "p50": float(p50),
        "p95": float(p95),
        "p99": float(p99),
        "errors": int(errors),
    }


def run_pgbench(clients: int, seconds: int, data: dict, script: str) -> dict:
    import dj_database_url

    config = dj_database_url.parse(os.environ["DATABASE_URL"])
    command = [
        "pgbench", "-n", "-c", str(clients), "-j", str(min(2, clients)), "-T", str(seconds), "-f", script,
        "-h", config["HOST"] or "127.0.0.1", "-p", str(config["PORT"] or 5432), "-U", config["USER"] or "postgres",
    ]  # fmt: skip
    for name in ("minid", "ncards", "merchant", "store", "staff"):
        command += ["-D", f"{name}={data[name]}"]
    env = {**os.environ, "PGPASSWORD": config["PASSWORD"] or ""}
    output = subprocess.run([*command, config["NAME"]], env=env, capture_output=True, text=True, check=True)
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", output.stdout)
    latency = re.search(r"latency average = ([\d.]+) ms", output.stdout)
    if not tps:
        raise SystemExit(f"pgbench said:\n{output.stdout}\n{output.stderr}")
    return {"tps": float(tps.group(1)), "latency_ms": float(latency.group(1)) if latency else None}


def machine_busy() -> tuple[float, float]:
    """Busy and total jiffies of all CPUs (from /proc/stat), to tell how loaded the machine was."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=20, help="seconds per measurement")
    parser.add_argument("--clients", default="8,32")
    parser.add_argument("--cards", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("BENCH_GUNICORN_WORKERS", 3)))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("BENCH_GUNICORN_THREADS", 1)))
    parser.add_argument("--worker-class", default=os.environ.get("BENCH_GUNICORN_WORKER_CLASS", "sync"))
    parser.add_argument("--keep-alive", type=int, default=int(os.environ.get("BENCH_GUNICORN_KEEP_ALIVE", 0)))
    parser.add_argument("--preload", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--skip-pgbench", action="store_true")
    args = parser.parse_args()
    if not os.environ.get("REDIS_URL"):
        raise SystemExit("bench/pos_throughput.py needs REDIS_URL (the rate limiter's shared cache)")
    # One key for this process and gunicorn: a device token carries a digest of the user's password
    # made with SECRET_KEY (a password change signs devices out), so tokens issued here must verify there.
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    ensure_postgres_database()
    setup_django()
    from django.db import connection

    data = prepare(args.cards)
    reset_outbox()
    dbname = connection.settings_dict["NAME"]
    folder = Path(tempfile.mkdtemp(prefix="bench-pos-"))
    files = {
        "cards": folder / "cards.txt",
        "tokens": folder / "tokens.txt",
        "wrk": folder / "pos.lua",
        "pgbench": folder / "pos.sql",
    }
    files["cards"].write_text("\n".join(data["numbers"]) + "\n")
    files["tokens"].write_text("\n".join(data["tokens"]) + "\n")
    files["wrk"].write_text(WRK_SCRIPT)
    files["pgbench"].write_text(PGBENCH_SCRIPT)
    files = {k: str(v) for k, v in files.items()}
    client_counts = [int(c) for c in args.clients.split(",")]

    port = free_port()
    server = start_gunicorn(port, args)
    results = []
    try:
        # Warm every worker and thread: more connections than threads, long enough for each to serve several.
        run_wrk(port, max(client_counts + [args.workers * args.threads * 2]), 6, files)
        for clients in client_counts:
            meter = CpuMeter(server.pid, dbname)
            busy_before = machine_busy()
            meter.start()
            product = run_wrk(port, clients, args.duration, files)
            cpu = meter.stop()
            busy_after = machine_busy()
            busy = (busy_after[0] - busy_before[0]) / max(1, busy_after[1] - busy_before[1])
            requests = max(1, product["requests"])
            row = {
                "clients": clients,
                **product,
                "cpu_ms": {kind: seconds * 1000 / requests for kind, seconds in cpu.items()},
                "machine_busy": busy,
            }
            # The floor: the cheapest authenticated call of the same server (token, staff member,
            # a small JSON answer, no business work), at the same client count.
            floor = run_wrk(port, clients, args.duration, files, floor=True)
            row["floor"] = {name: floor[name] for name in ("rps", "p50", "p99", "errors")}
            if not args.skip_pgbench:
                raw = run_pgbench(clients, args.duration, data, files["pgbench"])
                row["pgbench_tps"] = raw["tps"]
                row["ratio"] = product["rps"] / raw["tps"]
            results.append(row)
        # Latency under normal load: an open loop at half the capacity the first closed loop measured.
        settle_tables()
        open_rate = results[0]["rps"] / 2
        open_loop = run_open_loop(
            port=port, rate=open_rate, seconds=args.duration, cards=data["numbers"], tokens=data["tokens"]
        )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        shutil.rmtree(folder, ignore_errors=True)

    cores = os.cpu_count() or 1
    table = []
    for row in results:
        cpu_total = sum(row["cpu_ms"].values())
        table.append(
            [
                str(row["clients"]),
                f"{row['rps']:.0f}",
                f"{row['p50']:.1f}",
                f"{row['p95']:.1f}",
                f"{row['p99']:.1f}",
                str(row["errors"]),
                f"{row.get('pgbench_tps', 0):.0f}",
                f"{row['ratio']:.1%}" if "ratio" in row else "-",
                f"{row['cpu_ms']['server']:.1f} + {row['cpu_ms']['db']:.1f} + {row['cpu_ms']['driver']:.1f}",
                f"{cores * 1000 / cpu_total:.0f}" if cpu_total else "-",
                f"{row['floor']['rps']:.0f} / {row['floor']['p99']:.1f}",
                f"{row['clients'] / 0.050:.0f}",
                f"{row['machine_busy']:.0%}",
            ]
        )
    print_table(
        f"POS throughput (gunicorn {args.workers} {args.worker_class} workers x {args.threads} threads, keep-alive "
        f"{args.keep_alive}s, wrk, {args.duration}s each, {cores} cores)",
        ["clients", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors", "pgbench tps", "product/raw",
         "CPU ms/req (app + db + wrk)", f"ceiling req/s ({cores} cores)", "floor req/s / p99 ms",
         "req/s a 50 ms p99 needs", "machine busy"],
        table,
    )  # fmt: skip
    print(
        "floor: GET /api/v1/staff/me/ on the same server and clients (token auth and a JSON answer, no business work)."
        "\nWith N clients each waiting for its answer, the mean latency is N / req/s (Little's law): a p99 under"
        " 50 ms needs at least N / 0.050 s requests per second, and more since p99 is above the mean."
    )
    print_table(
        f"POS latency at a fixed rate (open loop, half the capacity measured at {results[0]['clients']} clients,"
        f" {args.duration}s; latency counted from each request's due time)",
        ["rate req/s", "answered req/s", "p50 ms", "p95 ms", "p99 ms", "errors", "p99 limit ms", "verdict"],
        [[f"{open_loop['rate']:.0f}", f"{open_loop['achieved_rps']:.0f}", f"{open_loop['p50']:.1f}",
          f"{open_loop['p95']:.1f}", f"{open_loop['p99']:.1f}", str(open_loop["errors"]), "50",
          "ok" if open_loop["p99"] < 50 and not open_loop["errors"] else "OVER"]],
    )  # fmt: skip
    emit_result(
        "pos",
        {
            "open_loop": open_loop,
            "workers": args.workers,
            "threads": args.threads,
            "worker_class": args.worker_class,
            "keep_alive": args.keep_alive,
            "duration": args.duration,
            "rows": results,
        },
    )


if __name__ == "__main__":
    main()
