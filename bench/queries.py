"""Database round trips per staff API call: card lookup, card detail and each mutation.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/loyalty_bench REDIS_URL=redis://127.0.0.1:6379/9 \
        .venv/bin/python bench/queries.py

Each call goes through the whole stack (Django test client: middleware, token auth, rate
limiter, DRF, services, output) in this process, counted with CaptureQueriesContext. The count
includes BEGIN, COMMIT and SAVEPOINT, which are round trips like any query. Mutations carry an
Idempotency-Key, as the POS page sends one with every mutation; the column "no key" is the
same call without it. One stamp and one earn go first, uncounted: what a process reads once
(the program's rewards, promotions and tiers) is not what every call costs.
"""

import os
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    BENCH_RATE_LIMITS,
    emit_result,
    ensure_postgres_database,
    migrate,
    print_table,
    setup_django,
)

SLUG = "bench-queries"
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")


def prepare() -> dict:
    """A hybrid program with rewards, one store, a manager with a token and one card."""
    from decimal import Decimal

    from django.contrib.auth import get_user_model

    from customers.models import Customer
    from loyalty import services
    from loyalty.models import LoyaltyCard, LoyaltyProgram, Reward
    from merchants.models import Merchant, StaffMember, Store
    from merchants.tokens import issue_token

    merchant, _ = Merchant.objects.get_or_create(slug=SLUG, defaults={"name": "Bench queries"})
    store, _ = Store.objects.get_or_create(merchant=merchant, code="main", defaults={"name": "Main"})
    program, _ = LoyaltyProgram.objects.get_or_create(
        merchant=merchant,
        is_active=True,
        defaults={"name": "Bench", "kind": "hybrid", "stamps_target": 5, "points_per_euro": Decimal("1.00")},
    )
    for cost in (10, 50, 100):
        Reward.objects.get_or_create(program=program, points_cost=cost, defaults={"name": f"Reward {cost}"})
    user, _ = get_user_model().objects.get_or_create(username="bench-queries-manager")
    member, _ = StaffMember.objects.get_or_create(user=user, defaults={"merchant": merchant, "role": "manager"})
    member.stores.set([store])
    token = issue_token(user=user, device="bench")[0]
    customer, _ = Customer.objects.get_or_create(
        merchant=merchant, email="bench-queries@example.com", defaults={"first_name": "Bench", "last_name": "Queries"}
    )
    card = LoyaltyCard.objects.filter(customer=customer).first() or services.issue_card(
        customer=customer, program=program, store=store
    )
    # Enough of everything that each mutation below is accepted, every run.
    services.adjust_balance(
        card=card,
        staff_user=user,
        reason="benchmark balance",
        points_delta=1000,
        stamps_delta=2 * program.stamps_target,
    )
    reward = Reward.objects.filter(program=program, points_cost=10).first()
    return {"card": card, "token": token, "reward": reward}


def count(client, method: str, path: str, token: str, body: dict | None = None, key: bool = True):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    headers = {"HTTP_AUTHORIZATION": f"Token {token}"}
    if key:
        headers["HTTP_IDEMPOTENCY_KEY"] = str(uuid.uuid4())
    with CaptureQueriesContext(connection) as captured:
        if method == "GET":
            response = client.get(path, body or {}, **headers)
        else:
            response = client.post(path, body or {}, content_type="application/json", **headers)
    if response.status_code != 200:
        raise SystemExit(f"{method} {path} answered {response.status_code}: {response.content[:300]!r}")
    statements = [q["sql"] for q in captured.captured_queries]
    data = [s for s in statements if not s.upper().startswith(TRANSACTION_CONTROL)]
    return response, len(statements), len(data), statements


def measure(verbose: bool = False) -> list[dict]:
    from django.test import Client

    fixture = prepare()
    card, token, reward = fixture["card"], fixture["token"], fixture["reward"]
    client = Client()
    base = f"/api/v1/cards/{card.card_number}"
    results = []

    def row(name: str, method: str, path: str, body_factory=None, mutation: bool = True):
        with_key = count(client, method, path, token, body_factory() if body_factory else None, key=True)
        without = count(client, method, path, token, body_factory() if body_factory else None, key=False)
        results.append(
            {
                "call": name,
                "round_trips": with_key[1],
                "queries": with_key[2],
                "round_trips_no_key": without[1] if mutation else None,
            }
        )
        if verbose:
            print(f"\n{name}:")
            for sql in with_key[3]:
                print("   ", sql[:160])
        return with_key[0]

    # Steady state: the program's rewards, promotions and tiers are read once per process (and
    # per change of them), the token's last use is written every few minutes.
    count(client, "POST", f"{base}/stamp/", token, {})
    count(client, "POST", f"{base}/earn-points/", token, {"purchase_amount": "1.00"})
    row(
        "card lookup (GET lookup/?q=card number)",
        "GET",
        "/api/v1/cards/lookup/",
        lambda: {"q": card.card_number},
        False,
    )
    row("card detail (GET cards/<n>/)", "GET", f"{base}/", None, False)
    row("stamp", "POST", f"{base}/stamp/", lambda: {})
    row("redeem-stamps", "POST", f"{base}/redeem-stamps/", lambda: {})
    earn = row(
        "earn-points (with order_reference)",
        "POST",
        f"{base}/earn-points/",
        lambda: {"purchase_amount": "12.50", "order_reference": f"B-{uuid.uuid4().hex[:12]}"},
    )
    row("redeem-points (catalogue reward)", "POST", f"{base}/redeem-points/", lambda: {"reward_id": reward.pk})
    earns = iter(
        [earn.json()["transaction"]["id"]]
        + [
            count(
                client,
                "POST",
                f"{base}/earn-points/",
                token,
                {"purchase_amount": "5.00"},
            )[0].json()["transaction"]["id"]
        ]
    )
    row("void-points (an earn transaction)", "POST", f"{base}/void-points/", lambda: {"transaction_id": next(earns)})
    row("adjust (manager)", "POST", f"{base}/adjust/", lambda: {"points_delta": 5, "reason": "benchmark"})
    return results


def main() -> None:
    os.environ.setdefault("LOYALTY_RATE_LIMITS", BENCH_RATE_LIMITS)
    ensure_postgres_database()
    setup_django()
    migrate()
    results = measure(verbose="-v" in sys.argv)
    print_table(
        "Database round trips per staff API call (PostgreSQL; BEGIN/COMMIT/SAVEPOINT included)",
        ["call", "round trips", "of which queries", "no Idempotency-Key"],
        [
            [
                r["call"],
                str(r["round_trips"]),
                str(r["queries"]),
                "-" if r["round_trips_no_key"] is None else str(r["round_trips_no_key"]),
            ]
            for r in results
        ],
    )
    emit_result("queries", {"rows": results})


if __name__ == "__main__":
    main()
