"""POS throughput: the product under gunicorn against the raw-SQL limit measured by pgbench.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/loyalty_bench REDIS_URL=redis://127.0.0.1:6379/9 \
        .venv/bin/python bench/pos_throughput.py [--duration 20] [--clients 8,32]

Needs PostgreSQL, Redis, wrk and pgbench. The product is served by gunicorn with the settings
the README recommends for production (DEBUG off, persistent connections, Redis cache for the
rate limiter, limits raised so the load is not refused). wrk (C, event loop, one Lua script)
drives it: half the requests stamp, half earn points, on random cards of 10,000, each request
with a fresh Idempotency-Key. pgbench runs the equivalent transaction in SQL on the same
database with the same number of clients: lock the card row, update it, insert the ledger row
and the wallet-outbox row.
"""

import argparse
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from common import ensure_postgres_database, print_table  # noqa: E402

SLUG = "bench-pos"
STAFF = 32

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
end

function request()
  counter = counter + 1
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
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from customers.models import Customer
    from loyalty.models import LoyaltyCard, LoyaltyProgram
    from merchants.models import Merchant, StaffMember, Store

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
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
    tokens = []
    for i in range(STAFF):
        user, _ = get_user_model().objects.get_or_create(username=f"bench-cashier-{i}")
        member, _ = StaffMember.objects.get_or_create(user=user, defaults={"merchant": merchant, "role": "cashier"})
        member.stores.set([store])
        tokens.append(Token.objects.get_or_create(user=user)[0].key)
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(port: int, workers: int, threads: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "LOYALTY_RATE_LIMITS": "stamp=1000000/m,earn=1000000/m,redeem=1000000/m,void=1000000/m,adjust=1000000/m",
        "LOG_LEVEL": "WARNING",
    }
    command = [
        str(ROOT / ".venv/bin/gunicorn"),
        "config.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "gthread",
        "--threads",
        str(threads),
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("gunicorn did not start")


def run_wrk(port: int, clients: int, seconds: int, files: dict) -> dict:
    env = {
        **os.environ,
        "BENCH_CARDS": files["cards"],
        "BENCH_TOKENS": files["tokens"],
        "BENCH_RUN": secrets.token_hex(4),
    }
    threads = min(2, clients)
    output = subprocess.run(
        [
            "wrk",
            "-t",
            str(threads),
            "-c",
            str(clients),
            "-d",
            f"{seconds}s",
            "--timeout",
            "5s",
            "-s",
            files["wrk"],
            f"http://127.0.0.1:{port}",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    match = re.search(
        r"RESULT requests=(\d+) seconds=([\d.]+) p50=([\d.]+) p95=([\d.]+) p99=([\d.]+) errors=(\d+)", output.stdout
    )
    if not match:
        raise SystemExit(f"wrk said:\n{output.stdout}\n{output.stderr}")
    requests, duration, p50, p95, p99, errors = match.groups()
    if output.stderr.strip():
        print(output.stderr.strip(), file=sys.stderr)
    return {
        "rps": int(requests) / float(duration),
        "p50": float(p50),
        "p95": float(p95),
        "p99": float(p99),
        "errors": int(errors),
    }


def run_pgbench(clients: int, seconds: int, data: dict, script: str) -> float:
    import dj_database_url

    config = dj_database_url.parse(os.environ["DATABASE_URL"])
    command = [
        "pgbench",
        "-n",
        "-c",
        str(clients),
        "-j",
        str(min(2, clients)),
        "-T",
        str(seconds),
        "-f",
        script,
        "-h",
        config["HOST"] or "127.0.0.1",
        "-p",
        str(config["PORT"] or 5432),
        "-U",
        config["USER"] or "postgres",
    ]
    for name in ("minid", "ncards", "merchant", "store", "staff"):
        command += ["-D", f"{name}={data[name]}"]
    env = {**os.environ, "PGPASSWORD": config["PASSWORD"] or ""}
    output = subprocess.run([*command, config["NAME"]], env=env, capture_output=True, text=True, check=True)
    match = re.search(r"tps = ([\d.]+) \(without initial connection time\)", output.stdout)
    if not match:
        raise SystemExit(f"pgbench said:\n{output.stdout}\n{output.stderr}")
    return float(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=20, help="seconds per measurement")
    parser.add_argument("--clients", default="8,32")
    parser.add_argument("--cards", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("BENCH_GUNICORN_WORKERS", 4)))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("BENCH_GUNICORN_THREADS", 2)))
    args = parser.parse_args()
    if not os.environ.get("REDIS_URL"):
        raise SystemExit("bench/pos_throughput.py needs REDIS_URL (the rate limiter's shared cache)")
    ensure_postgres_database()
    data = prepare(args.cards)
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

    port = free_port()
    server = start_gunicorn(port, args.workers, args.threads)
    rows = []
    try:
        run_wrk(port, 4, 3, files)  # warm up: connections, imports, caches
        for clients in [int(c) for c in args.clients.split(",")]:
            product = run_wrk(port, clients, args.duration, files)
            raw = run_pgbench(clients, args.duration, data, files["pgbench"])
            rows.append(
                [
                    f"{clients}",
                    f"{product['rps']:.0f}",
                    f"{product['p50']:.1f}",
                    f"{product['p95']:.1f}",
                    f"{product['p99']:.1f}",
                    str(product["errors"]),
                    f"{raw:.0f}",
                    f"{product['rps'] / raw:.1%}",
                ]
            )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    print_table(
        f"POS throughput (gunicorn {args.workers} workers x {args.threads} threads, wrk, {args.duration}s each)",
        ["clients", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors", "pgbench tps", "product/raw"],
        rows,
    )
    print(json.dumps({"pos": rows}))


if __name__ == "__main__":
    main()
