"""Profile the POS request path (stamp and earn through the whole stack) with pyinstrument.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/loyalty_bench REDIS_URL=redis://127.0.0.1:6379/9 \
        .venv/bin/python bench/profile_pos.py [--requests 60] [--html profile.html]

Runs bench/pos_throughput.py's merchant (created there) in this process with production-like
settings (DEBUG off), prints the CPU and wall time per request, the database round trips, and
pyinstrument's call tree. To sample a running gunicorn instead: `py-spy top --pid <worker pid>`
or `py-spy record --idle --pid <worker pid> -d 10 -o profile.svg` while bench/pos_throughput.py runs.
"""

import argparse
import os
import random
import secrets
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import BENCH_RATE_LIMITS, setup_django  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--html", help="write pyinstrument's HTML report here too")
    args = parser.parse_args()
    os.environ.update(
        {
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "testserver",
            "SECURE_SSL_REDIRECT": "false",
            "LOYALTY_RATE_LIMITS": BENCH_RATE_LIMITS,
            "LOG_LEVEL": "WARNING",
        }
    )
    setup_django()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from pyinstrument import Profiler

    from loyalty.models import LoyaltyCard
    from merchants.tokens import issue_token

    numbers = list(LoyaltyCard.objects.filter(merchant__slug="bench-pos").values_list("card_number", flat=True))
    user = get_user_model().objects.filter(username="bench-cashier-0").first()
    if not numbers or user is None:
        sys.exit("run bench/pos_throughput.py once first: it creates the benchmark merchant")
    token = issue_token(user=user, device="bench profile")[0]
    client = Client()

    def request(i: int):
        number = random.choice(numbers)
        headers = {"HTTP_AUTHORIZATION": f"Token {token}", "HTTP_IDEMPOTENCY_KEY": str(uuid.uuid4())}
        if i % 2:
            path, body = f"/api/v1/cards/{number}/stamp/", "{}"
        else:
            path, body = f"/api/v1/cards/{number}/earn-points/", '{"purchase_amount": "12.50"}'
        response = client.post(path, body, content_type="application/json", **headers)
        assert response.status_code == 200, response.content

    for i in range(10):
        request(i)
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(args.requests):
        request(i)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    with CaptureQueriesContext(connection) as captured:
        request(1)
    print(
        f"{args.requests} requests: {wall / args.requests * 1000:.1f} ms wall, {cpu / args.requests * 1000:.1f} ms CPU"
        f" per request in this process; {len(captured.captured_queries)} database round trips for a stamp"
    )
    floor_cpu = cpu_per_call(lambda: client.get("/api/v1/staff/me/", HTTP_AUTHORIZATION=f"Token {token}"), 100)
    print(f"the floor, GET /api/v1/staff/me/ (token, staff membership, JSON): {floor_cpu:.1f} ms CPU per request")
    orm_versus_raw(numbers[0])
    profiler = Profiler(interval=0.001)
    profiler.start()
    for i in range(args.requests):
        request(i)
    profiler.stop()
    print(profiler.output_text(unicode=False, color=False))
    if args.html:
        Path(args.html).write_text(profiler.output_html())


def cpu_per_call(call, repeat: int) -> float:
    """Best CPU milliseconds per call over five rounds (the VM's speed wanders)."""
    for _ in range(10):
        call()
    best = float("inf")
    for _ in range(5):
        started = time.process_time()
        for _ in range(repeat):
            call()
        best = min(best, (time.process_time() - started) / repeat * 1000)
    return best


def orm_versus_raw(card_number: str) -> None:
    """What the ORM adds to a query of the POS answer: the same SQL through the ORM and through a cursor."""
    from django.db import connection

    from loyalty.models import LoyaltyCard
    from loyalty.selectors import RECENT_TRANSACTIONS, transactions_for_display

    card = LoyaltyCard.objects.get(card_number=card_number)
    rows = transactions_for_display(card)[:RECENT_TRANSACTIONS]
    sql, params = rows.query.sql_with_params()

    def raw():
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            cursor.fetchall()

    orm_cpu = cpu_per_call(lambda: list(transactions_for_display(card)[:RECENT_TRANSACTIONS]), 200)
    raw_cpu = cpu_per_call(raw, 200)
    print(
        f"the answer's recent transactions: {orm_cpu:.2f} ms CPU through the ORM (build, compile, load models),"
        f" {raw_cpu:.2f} ms for the same SQL through a cursor"
    )


if __name__ == "__main__":
    main()
