"""The measurements of bench/scale.py on one data set, in the process whose DATABASE_URL names it.

Server time: Django's handling of each request in this process through django.test.Client, with
production-like settings (set by bench/scale.py before Django starts). Whatever a figure changes
(a stamp, the expiry) is undone afterwards, so the data set can be measured again.
"""

import datetime
import os
import sys
import time
import uuid

from common import median

LIMIT_MS = 300.0
FIGURE_BUDGET_S = 20.0  # a slow figure stops after this much time (at least 2 timed requests)


def describe(figure: dict | None) -> str:
    if figure is None:
        return "-"
    if "error" in figure:
        return f"ERROR: {figure['error']}"
    if figure["kind"] == "request":
        return f"{figure['ms']:.1f} ms, {figure['queries']} q" + (f" (n={figure['n']})" if figure["n"] < 3 else "")
    if figure["kind"] == "export":
        return f"{figure['rate']:,.0f} rows/s ({figure['rows']:,} rows, {figure['seconds']:.1f} s)"
    if figure["kind"] == "job":
        return f"{figure['seconds']:.1f} s, {figure['rate']:,.0f} rows/s ({figure['rows']:,} rows)"
    return (
        f"{figure['seconds']:.1f} s, {figure['rate']:,.0f} cards/s ({figure['cards']:,} cards; "
        f"{figure['wal_kb_per_card']:.1f} kB of WAL a card, {figure['hot_share']:.0%} of card updates HOT)"
    )


class ErrorAnswer(Exception):
    """A figure that could not be measured (an error answer), with what to print."""


def measure(dataset: str, rounds: int, explain: bool = False, only: str | None = None) -> dict:
    """Every figure of the data set (in order), or those whose name holds ``only``, with the build's facts."""
    import scale_dataset
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from merchants.models import Merchant, Store
    from merchants.tokens import issue_token

    facts = scale_dataset.marker()
    if facts is None:
        sys.exit(f"{os.environ['DATABASE_URL']} holds no finished build: run bench/scale.py without --measure-only")
    facts["database"] = connection.settings_dict["NAME"]
    slug = facts["main"]["slug"]
    merchant = Merchant.objects.get(slug=slug)
    owner = get_user_model().objects.get(username=f"{slug}-owner")
    store = Store.objects.filter(merchant=merchant).order_by("code").first()
    clock = datetime.datetime.fromtimestamp(facts["clock"], datetime.UTC)
    due_now = _due_cards(merchant, clock)
    print(
        f"[{dataset}] measuring {slug} in {facts['database']} ({rounds} rounds); due for expiry at the build's "
        f"clock: {due_now:,} (built with {facts['due']:,})",
        flush=True,
    )
    if due_now != facts["due"]:
        print("  !!! the data set changed since it was built (an interrupted run?): use --rebuild", flush=True)
    token = issue_token(user=owner, device="bench/scale.py")[0]
    api = Client(headers={"Authorization": f"Token {token}"})
    admin = Client()
    admin.force_login(owner)
    samples = _sample_cards(merchant, facts["heavy_card"])
    heavy = facts["heavy_card"]
    sample = samples[len(samples) // 2]
    today = timezone.localdate(clock)  # the data set's today: its figures do not age

    def each(make_path):
        return lambda k: make_path(samples[k % len(samples)])

    figures: dict[str, dict] = {}
    order: list[str] = []

    def wanted(name: str) -> bool:
        return only is None or only.lower() in name.lower()

    def request_figure(name: str, call, expect: int = 200) -> None:
        if not wanted(name):
            return
        order.append(name)
        figures[name] = figure = _timed(call, rounds, expect)
        print(f"  {name}: {describe(figure)}", flush=True)
        if figure.get("ms", 0) >= LIMIT_MS:
            slowest = figure["slowest"]
            print(f"    slowest query {slowest['ms']:.0f} ms: {slowest['sql'][:400]}", flush=True)

    lookup = "/api/v1/cards/lookup/"
    request_figure("API card lookup by number", each(lambda c: api.get(lookup, {"q": c["number"]})))
    request_figure("API card lookup by QR", each(lambda c: api.get(lookup, {"q": c["qr"]})))
    request_figure("API card lookup by email", each(lambda c: api.get(lookup, {"q": c["email"]})))
    request_figure("API card lookup by phone", each(lambda c: api.get(lookup, {"q": c["phone_typed"]})))
    request_figure("API card detail", each(lambda c: api.get(f"/api/v1/cards/{c['number']}/")))
    request_figure(
        f"API transactions, page 1 (card of {facts['heavy_rows']:,} rows)",
        lambda k: api.get(f"/api/v1/cards/{heavy}/transactions/", {"page": 1}),
    )
    request_figure(
        "API transactions, page 500 (rows 9,981-10,000)",
        lambda k: api.get(f"/api/v1/cards/{heavy}/transactions/", {"page": 500}),
    )
    with _stamps_undone(merchant, [c["id"] for c in samples]):
        request_figure(
            "API stamp (POST, Idempotency-Key)",
            each(
                lambda c: api.post(
                    f"/api/v1/cards/{c['number']}/stamp/",
                    {"store": store.code},
                    content_type="application/json",
                    headers={"Idempotency-Key": f"scalebench-{uuid.uuid4()}"},
                )
            ),
        )
    lists = [
        ("cards", "/admin/loyalty/loyaltycard/", "is_active__exact=0"),
        ("customers", "/admin/customers/customer/", "marketing_opt_in__exact=1"),
        ("ledger", "/admin/loyalty/loyaltytransaction/", "type__exact=stamp_redeem"),
    ]
    for label, path, filter_query in lists:
        request_figure(f"admin {label} list", lambda k, p=path: admin.get(p))
        request_figure(f"admin {label}, search a name", lambda k, p=path: admin.get(p, {"q": sample["last_name"]}))
        request_figure(f"admin {label}, search an email", lambda k, p=path: admin.get(p, {"q": sample["email"]}))
        request_figure(f"admin {label}, search a card number", lambda k, p=path: admin.get(p, {"q": sample["number"]}))
        request_figure(f"admin {label}, filtered ({filter_query})", lambda k, p=path, f=filter_query: admin.get(
            f"{p}?{f}"))  # fmt: skip
    # As deployed, the minute job has rolled up what came before (the stamps above, a previous
    # run's leftovers): its two passes (see, then take) before the summary is read.
    from insights import rollup

    if wanted("API insights summary"):
        rollup.roll_up()
        rollup.roll_up()
    for days in (30, 365):
        period = {"from": (today - datetime.timedelta(days=days - 1)).isoformat(), "to": today.isoformat()}
        request_figure(f"API insights summary, {days} days", lambda k, p=period: api.get(
            "/api/v1/insights/summary/", p))  # fmt: skip

    if wanted("members export (API, CSV streamed)"):
        order.append("members export (API, CSV streamed)")
        figures[order[-1]] = _export(api, "/api/v1/exports/members.csv")
        print(f"  {order[-1]}: {describe(figures[order[-1]])}", flush=True)
    # The expiry writes all its ledger rows at one instant, the newest of the ledger until the next
    # operation: the ledger list is measured again over them, before the expiry is undone.
    name = "nightly expiry (expire_points)"
    if wanted(name):
        expiry = _expiry(merchant, clock, while_expired=lambda: request_figure(
            "admin ledger list, after the expiry (its rows share one instant)",
            lambda k: admin.get("/admin/loyalty/loyaltytransaction/")))  # fmt: skip
        order.append(name)
        figures[name] = expiry
        print(f"  {name}: {describe(expiry)}", flush=True)

    if explain:
        _explain_slowest(order, figures)
    # What the undoing left behind, so that the next run starts from the same tables (INDEX_CLEANUP ON:
    # with few dead rows VACUUM would skip the indexes and leave those pages not all-visible).
    with connection.cursor() as cursor:
        for table in ("loyalty_loyaltycard", "loyalty_loyaltytransaction", "wallet_walletupdate",
                      "loyalty_idempotencyrecord"):  # fmt: skip
            cursor.execute(f"VACUUM (ANALYZE, INDEX_CLEANUP ON) {table}")
    return {"facts": facts, "rounds": rounds, "only": only, "order": order, "figures": figures}


def _explain_slowest(order: list[str], figures: dict) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of the slowest SELECT of each figure over the limit."""
    from django.db import connection

    for name in order:
        figure = figures[name]
        sql = figure.get("slowest", {}).get("sql", "").strip()
        if figure.get("ms", 0) < LIMIT_MS or not sql.upper().startswith(("SELECT", "WITH")):
            continue
        print(f"\nEXPLAIN (ANALYZE, BUFFERS) of the slowest query of {name!r} ({figure['slowest']['ms']:.0f} ms):")
        print("  " + " ".join(sql.split())[:1500])
        try:
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
                for (line,) in cursor.fetchall():
                    print("    " + line)
        except Exception as exc:  # noqa: BLE001
            print(f"    could not explain it: {type(exc).__name__}: {str(exc).splitlines()[0]}")
            connection.close()
        sys.stdout.flush()


def _due_cards(merchant, clock: datetime.datetime) -> int:
    from loyalty.models import LoyaltyProgram
    from loyalty.services.expiry import expiry_candidates

    return sum(expiry_candidates(p, clock).count() for p in LoyaltyProgram.objects.filter(merchant=merchant))


def _sample_cards(merchant, heavy: str) -> list[dict]:
    """Five live cards with a phone, spread over the merchant's ids (the same places in both data sets)."""
    from django.db import connection

    samples = []
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id), max(id) FROM loyalty_loyaltycard WHERE merchant_id = %s", [merchant.pk])
        low, high = cursor.fetchone()
        for share in (0.1, 0.3, 0.5, 0.7, 0.9):
            cursor.execute(
                """
                SELECT c.id, c.card_number, c.qr_code_data, u.email, u.phone, u.last_name
                FROM loyalty_loyaltycard c JOIN customers_customer u ON u.id = c.customer_id
                WHERE c.merchant_id = %s AND c.id >= %s AND c.deleted_at IS NULL AND c.is_active
                  AND u.phone <> '' AND c.card_number <> %s
                ORDER BY c.id LIMIT 1
                """,
                [merchant.pk, int(low + share * (high - low)), heavy],
            )
            pk, number, qr, email, phone, last_name = cursor.fetchone()
            national = "0" + phone[3:]  # +33612345678 -> 06 12 34 56 78, as a cashier types it
            typed = " ".join(national[i : i + 2] for i in range(0, 10, 2))
            samples.append(
                {"id": pk, "number": number, "qr": qr, "email": email, "phone_typed": typed, "last_name": last_name}
            )
    return samples


def _timed(call, rounds: int, expect: int) -> dict:
    """Median server time of `rounds` calls after a warm-up (whose queries are counted), or the error.

    A call slower than FIGURE_BUDGET_S is measured once (the warm-up is the figure, n=1); the
    slowest SQL statement of the warm-up is kept for the report.
    """
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    try:
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            _check(call(0), expect)
            warm = time.perf_counter() - started
        queries = captured.captured_queries
        slowest = max(queries, key=lambda q: float(q["time"]), default={"time": "0", "sql": ""})
        slowest = {"ms": float(slowest["time"]) * 1000, "sql": slowest["sql"]}
        if warm > FIGURE_BUDGET_S:
            samples = [warm * 1000]
        else:
            if warm < 1:
                _check(call(1), expect)
            samples = []
            for k in range(rounds):
                started = time.perf_counter()
                _check(call(k + 2), expect)
                samples.append((time.perf_counter() - started) * 1000)
                if sum(samples) / 1000 > FIGURE_BUDGET_S and len(samples) >= 2:
                    break
    except ErrorAnswer as exc:
        return {"kind": "request", "error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - the table shows it instead of stopping the run
        connection.close()  # a failed statement (timeout) leaves nothing behind for the next figure
        return {"kind": "request", "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"}
    return {"kind": "request", "ms": median(samples), "n": len(samples), "queries": len(queries), "slowest": slowest}


def _check(response, expect: int) -> None:
    if response.status_code != expect:
        body = b"".join(response.streaming_content) if response.streaming else response.content
        text = body.decode("utf-8", "replace")
        if response.status_code == 404 and "Invalid page" in text:
            raise ErrorAnswer("HTTP 404: the page does not exist")
        if response.status_code in (301, 302):
            raise ErrorAnswer(f"HTTP {response.status_code} to {response.get('Location')}")
        raise ErrorAnswer(f"HTTP {response.status_code}: {' '.join(text.split())[:100]}")


def _export(api, path: str) -> dict:
    """Stream the whole CSV once (after a warm-up of its first chunk) and count its rows."""
    try:
        first = api.get(path)
        _check(first, 200)
        next(iter(first.streaming_content), None)
        first.close()
        started = time.perf_counter()
        response = api.get(path)
        _check(response, 200)
        lines = sum(chunk.count(b"\n") for chunk in response.streaming_content)
        seconds = time.perf_counter() - started
    except ErrorAnswer as exc:
        return {"kind": "export", "error": str(exc)}
    except Exception as exc:  # noqa: BLE001
        return {"kind": "export", "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"}
    rows = lines - 1
    return {"kind": "export", "rows": rows, "seconds": seconds, "rate": rows / seconds}


class _stamps_undone:
    """Give the sample cards back their balances, and remove the stamps' rows, after the stamp figure."""

    COLUMNS = (
        "stamp_count, lifetime_stamps, rewards_redeemed, points_balance, lifetime_points_earned, last_stamp_at, "
        "last_points_at, last_redemption_at, last_activity_at, updated_at, tier_id, tier_changed_at"
    )

    def __init__(self, merchant, card_ids: list[int]):
        self.merchant, self.card_ids = merchant, card_ids

    def __enter__(self):
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(f"SELECT id, {self.COLUMNS} FROM loyalty_loyaltycard WHERE id = ANY(%s)", [self.card_ids])
            self.saved = cursor.fetchall()
            cursor.execute("SELECT coalesce(max(id), 0) FROM wallet_walletupdate")
            self.wallet_id = cursor.fetchone()[0]
        return self

    def __exit__(self, *exc):
        from django.db import connection, transaction

        names = [c.strip() for c in self.COLUMNS.split(",")]
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM loyalty_loyaltytransaction WHERE merchant_id = %s AND idempotency_key LIKE 'scalebench-%%'",
                [self.merchant.pk],
            )
            cursor.execute("DELETE FROM loyalty_idempotencyrecord WHERE key LIKE 'scalebench-%%'")
            cursor.execute("DELETE FROM wallet_walletupdate WHERE id > %s", [self.wallet_id])
            for row in self.saved:
                assignments = ", ".join(f"{name} = %s" for name in names)
                cursor.execute(f"UPDATE loyalty_loyaltycard SET {assignments} WHERE id = %s", [*row[1:], row[0]])
        return False


def _expiry(merchant, clock: datetime.datetime, while_expired=None) -> dict:
    """expire_points for the merchant at the build's clock (then ``while_expired()``, before the undoing);
    then the cards, ledger and outbox as before."""
    from django.db import connection, transaction

    from loyalty.models import LoyaltyProgram
    from loyalty.services.expiry import expire_points

    programs = list(LoyaltyProgram.objects.filter(merchant=merchant, points_expiry_days__isnull=False))
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS scale_expiry_before")
        cursor.execute(
            """
            CREATE TEMP TABLE scale_expiry_before AS
            SELECT c.id, c.points_balance, c.updated_at FROM loyalty_loyaltycard c
            JOIN loyalty_loyaltyprogram p ON p.id = c.program_id
            WHERE c.merchant_id = %s AND c.points_balance > 0 AND c.deleted_at IS NULL
              AND p.points_expiry_days IS NOT NULL
              AND c.last_activity_at < %s - make_interval(days => p.points_expiry_days)
            """,
            [merchant.pk, clock],
        )
        cursor.execute("SELECT coalesce(max(id), 0) FROM loyalty_loyaltytransaction")
        ledger_id = cursor.fetchone()[0]
        cursor.execute("SELECT coalesce(max(id), 0) FROM wallet_walletupdate")
        wallet_id = cursor.fetchone()[0]
    try:
        before = _write_costs()
        started = time.perf_counter()
        report = expire_points(merchant_slug=merchant.slug, now=clock)
        seconds = time.perf_counter() - started
        costs = {name: after - before[name] for name, after in _write_costs().items()}
        if while_expired is not None:
            while_expired()
    except Exception as exc:  # noqa: BLE001
        seconds, report, error = 0.0, None, f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
    else:
        error = None
    finally:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                """
                UPDATE loyalty_loyaltycard c SET points_balance = b.points_balance, updated_at = b.updated_at
                FROM scale_expiry_before b WHERE c.id = b.id
                """
            )
            cursor.execute(
                "DELETE FROM loyalty_loyaltytransaction WHERE id > %s AND merchant_id = %s AND type = 'points_expire'",
                [ledger_id, merchant.pk],
            )
            cursor.execute("DELETE FROM wallet_walletupdate WHERE id > %s", [wallet_id])
            cursor.execute("DROP TABLE scale_expiry_before")
    if error:
        return {"kind": "expiry", "error": error}
    if not programs or not report.cards:
        return {"kind": "expiry", "error": "no card was due"}
    return {
        "kind": "expiry",
        "cards": report.cards,
        "seconds": seconds,
        "rate": report.cards / seconds,
        "wal_kb_per_card": costs["wal_bytes"] / 1024 / report.cards,
        "hot_share": costs["card_hot_updates"] / max(costs["card_updates"], 1),
    }


def _write_costs() -> dict[str, int]:
    """The server's WAL bytes so far and the card table's updates, HOT ones apart (this backend's
    pending statistics flushed first)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")
        cursor.execute(
            """
            SELECT (SELECT wal_bytes FROM pg_stat_wal)::bigint, n_tup_upd, n_tup_hot_upd
            FROM pg_stat_user_tables WHERE relname = 'loyalty_loyaltycard'
            """
        )
        wal_bytes, updates, hot = cursor.fetchone()
    return {"wal_bytes": wal_bytes, "card_updates": updates, "card_hot_updates": hot}
