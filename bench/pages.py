"""Public pages: the enrollment form (GET, and a POST that enrolls) and the card page, server time.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/loyalty_bench .venv/bin/python bench/pages.py [--requests 200]

Server time is Django's handling of the request in this process (Django test client: every
middleware, the view, the template, the database on PostgreSQL), with production settings
(DEBUG off, cached templates); not the network or the browser. Each POST enrolls a new customer
(a new email): customer, card, welcome-bonus ledger row, wallet-outbox row, the welcome email
(to the locmem backend), then the redirect to the card page. The card page shows a card with a
full activity list (its QR code drawn once, then cached; the "first view" row draws it); wallets are off (a Google Save link adds one RS256 signature, see the
wallet figures). Beside each: the database round trips of one request.
"""

import argparse
import os
import secrets
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    emit_result,
    ensure_postgres_database,
    median,
    migrate,
    percentile,
    print_table,
    setup_django,
)

SLUG = "bench-pages"


def production_like_environment() -> None:
    os.environ.update(
        {
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "testserver",
            "SECURE_SSL_REDIRECT": "false",
            "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
            "LOYALTY_ENROLL_RATE_LIMIT": "1000000/h",
            "LOG_LEVEL": "WARNING",
        }
    )
    for name in [n for n in os.environ if n.startswith(("LOYALTY_GOOGLE_", "LOYALTY_APPLE_"))]:
        del os.environ[name]


def prepare():
    from django.conf import settings

    from loyalty import services
    from loyalty.models import LoyaltyCard, LoyaltyProgram, Reward
    from merchants.models import Merchant, Store

    # Hashed static names need `collectstatic` first; the page's work is the same without.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    migrate()
    merchant, _ = Merchant.objects.get_or_create(slug=SLUG, defaults={"name": "Bench Bakery"})
    store, _ = Store.objects.get_or_create(merchant=merchant, code="main", defaults={"name": "Main"})
    program, _ = LoyaltyProgram.objects.get_or_create(
        merchant=merchant, is_active=True, defaults={"name": "Bench", "kind": "hybrid", "welcome_bonus": 50}
    )
    for cost in (40, 120, 300):
        Reward.objects.get_or_create(program=program, points_cost=cost, defaults={"name": f"Reward {cost}"})
    card = LoyaltyCard.objects.filter(merchant=merchant, customer__email="bench-pages@example.com").first()
    if card is None:
        from customers.models import Customer

        customer = Customer.objects.create(
            merchant=merchant, first_name="Ada", last_name="Bench", email="bench-pages@example.com"
        )
        card = services.issue_card(customer=customer, program=program, store=store)
        for _ in range(12):
            services.add_stamp(card=card, store=store, staff_user=None)
            services.earn_points(card=card, purchase_amount="7.50", store=store, staff_user=None)
    return merchant, card


def timed(client, method: str, path: str, data=None, expect: int = 200) -> tuple[float, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        started = time.perf_counter()
        response = client.post(path, data) if method == "POST" else client.get(path)
        elapsed = time.perf_counter() - started
    if response.status_code != expect:
        raise SystemExit(f"{method} {path} answered {response.status_code}, expected {expect}")
    return elapsed * 1000, len(captured.captured_queries)


def measure(requests: int) -> list[dict]:
    from django.test import Client

    from customers.views import _qr_code_markup

    merchant, card = prepare()
    client = Client()
    join = f"/join/{merchant.slug}/"
    card_page = f"/card/{card.qr_code_data}/"

    def enroll_data() -> dict:
        return {
            "first_name": "Bench",
            "last_name": "Joiner",
            "email": f"join-{uuid.uuid4().hex[:16]}@example.com",
            "phone": "+33 6 12 34 56 78",
            "birth_date": "1990-05-17",
            "accept_terms": "on",
        }

    pages = [
        ("enrollment page (GET /join/<merchant>/)", lambda: timed(client, "GET", join), requests),
        ("enrollment (POST /join/<merchant>/, new customer)", lambda: timed(client, "POST", join, enroll_data(), 302),
         max(20, requests // 2)),
        ("card page (GET /card/<qr>/)", lambda: timed(client, "GET", card_page), requests),
        # A card's first view in a process draws its QR code (cached afterwards, per card and language).
        ("card page, first view (QR drawn)", lambda: (_qr_code_markup.cache_clear(), timed(client, "GET", card_page))[1],
         requests),
    ]  # fmt: skip
    results = []
    for name, call, count in pages:
        for _ in range(5):  # warm-up: templates compiled, translations loaded, connections open
            call()
        samples = [call() for _ in range(count)]
        times = [ms for ms, _ in samples]
        results.append(
            {
                "page": name,
                "requests": count,
                "median_ms": median(times),
                "p95_ms": percentile(times, 95),
                "queries": samples[-1][1],
            }
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    production_like_environment()
    ensure_postgres_database()
    setup_django()
    results = measure(args.requests)
    print_table(
        "Pages, server time in Django (PostgreSQL, DEBUG off, one process)",
        ["page", "requests", "median ms", "p95 ms", "round trips"],
        [
            [r["page"], str(r["requests"]), f"{r['median_ms']:.1f}", f"{r['p95_ms']:.1f}", str(r["queries"])]
            for r in results
        ],
    )
    emit_result("pages", {"rows": results})


if __name__ == "__main__":
    main()
