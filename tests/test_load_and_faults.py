"""Load and fault tests on PostgreSQL: many operations at once, Redis stopping under POS traffic,
a Celery worker killed in the middle of the points expiry.

They assert correctness (balances, ledger, outbox), never timings: figures are bench/'s business.
Redis is always a private redis-server started by the test on a free port, never the shared one.
"""

import contextlib
import datetime
import logging
import os
import queue
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection, connections
from django.db.models import Count, Sum
from django.utils import timezone
from rest_framework.test import APIClient

import wallet.tasks
from config.celery import app as celery_app
from core import nudges as broker_nudges
from core.errors import LoyaltyError
from customers.models import Customer
from loyalty import services
from loyalty import tasks as loyalty_tasks
from loyalty.models import LoyaltyCard, LoyaltyTransaction
from loyalty.selectors import cards_out_of_balance
from merchants.tokens import issue_token
from notifications import tasks as notifications_tasks
from tests.factories import ProgramFactory, StaffMemberFactory, StoreFactory, make_card
from tests.support import postgres_only
from wallet.models import WalletUpdate

pytestmark = [postgres_only, pytest.mark.django_db(transaction=True)]

Type = LoyaltyTransaction.Type
RAISED_LIMITS = {
    "stamp": "100000/m",
    "earn": "100000/m",
    "redeem": "100000/m",
    "void": "100000/m",
    "adjust": "100000/m",
}

needs_redis_server = pytest.mark.skipif(
    shutil.which("redis-server") is None,
    reason="starts a private redis-server (never the shared one): the redis-server command is not installed",
)


# --- helpers ---------------------------------------------------------------------------------


def run_pool(jobs: list[Callable[[], object]], threads: int = 20) -> list[object]:
    """Run the jobs on ``threads`` threads (each its own database connection), all starting together.

    Up to ``threads`` operations are in flight at any moment; returns each job's result or exception, in order.
    """
    work: queue.Queue = queue.Queue()
    for index, job in enumerate(jobs):
        work.put((index, job))
    results: list[object] = [None] * len(jobs)
    barrier = threading.Barrier(threads)

    def worker() -> None:
        try:
            barrier.wait(timeout=30)
            while True:
                try:
                    index, job = work.get_nowait()
                except queue.Empty:
                    return
                try:
                    results[index] = job()
                except Exception as exc:  # noqa: BLE001 - reported to the test as a result
                    results[index] = exc
        finally:
            connections.close_all()

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in pool), "a worker thread is stuck"
    return results


def assert_ledger_intact() -> None:
    assert list(cards_out_of_balance().values_list("card_number", flat=True)) == []
    assert not LoyaltyCard.objects.filter(points_balance__lt=0).exists()
    assert not LoyaltyCard.objects.filter(stamp_count__lt=0).exists()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-4000:] if log and log.exists() else ""
            pytest.fail(f"timed out waiting for {what}\n{tail}")
        time.sleep(0.05)


class PrivateRedis:
    """A redis-server of this test alone, on a free port, without persistence: stop it, start it again."""

    def __init__(self, folder: Path):
        self.port = free_port()
        self.folder = folder
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                   "--daemonize", "no", "--dir", str(self.folder)]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_for(self.answers, f"redis-server on port {self.port}", timeout=20)

    def answers(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.2).ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        """Stopped the hard way, as a crash or a killed container would."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=20)


@pytest.fixture
def private_redis(tmp_path):
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


def _drop_broker_connections() -> None:
    # The Celery app caches its connection and producer pools for the broker it first saw.
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@contextlib.contextmanager
def celery_broker(url: str):
    """This process publishes nudges and tasks to ``url`` for real (not eagerly) during the block."""
    conf = celery_app.conf
    saved = conf.broker_url, conf.broker_transport_options, conf.task_always_eager
    conf.broker_url, conf.task_always_eager = url, False
    conf.broker_transport_options = settings.LOYALTY_REDIS_BROKER_OPTIONS
    _drop_broker_connections()
    try:
        yield
    finally:
        _drop_broker_connections()
        conf.broker_url, conf.broker_transport_options, conf.task_always_eager = saved


def shared_database_url() -> str:
    """The test database, for a worker process to share."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{credentials}@{db['HOST'] or 'localhost'}{port}/{db['NAME']}"


@contextlib.contextmanager
def celery_worker(broker_url: str, folder: Path, name: str, pool: str = "solo", **environment: str):
    """`celery -A config worker` (``--pool=solo`` unless said) on the test database and ``broker_url``; stopped
    at the end. ``pool="prefork"`` runs it as deploy/run does (one child)."""
    env = os.environ | {
        "DATABASE_URL": shared_database_url(),
        "REDIS_URL": broker_url,
        "LOYALTY_VAR_DIR": str(folder / f"{name}-var"),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        **environment,
    }
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    log = folder / f"{name}.log"
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", f"--pool={pool}", "--concurrency=1", "--loglevel=INFO",
               "--without-mingle", "--without-gossip", "--without-heartbeat", "-n", f"{name}-{os.getpid()}@%h"]  # fmt: skip
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=settings.BASE_DIR, env=env, stdout=output, stderr=subprocess.STDOUT)
    process.log = log
    try:
        wait_for(lambda: process.poll() is not None or b"ready." in log.read_bytes(), "the worker", 90, log)
        assert process.poll() is None, log.read_text(errors="replace")
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# --- 100 concurrent mixed operations ---------------------------------------------------------


def test_hundred_concurrent_mixed_operations_on_one_card_lose_nothing():
    program = ProgramFactory(stamps_target=3)
    store = StoreFactory(merchant=program.merchant)
    staff = StaffMemberFactory(merchant=program.merchant, role="manager", stores=[store]).user
    card = make_card(program=program, store=store)
    first_earn = services.earn_points(card=card, purchase_amount=Decimal("300"), store=store, staff_user=staff)
    rows_before = card.transactions.count()

    def stamp():
        return services.add_stamp(card=card, store=store, staff_user=staff)

    def earn(i: int):
        return services.earn_points(
            card=card, purchase_amount=Decimal("12.50"), store=store, staff_user=staff, order_reference=f"L-{i}"
        )

    def redeem():
        return services.redeem_points(card=card, points=25, store=store, staff_user=staff)

    def redeem_stamps():
        return services.redeem_stamps(card=card, store=store, staff_user=staff)

    def void_amount():
        return services.void_points(card=card, points=9, reason="return", store=store, staff_user=staff)

    def void_first_earn():
        return services.void_points(
            card=card, earn_transaction_id=first_earn.transaction.pk, store=store, staff_user=staff
        )

    jobs = (
        [stamp] * 30
        + [lambda i=i: earn(i) for i in range(20)]
        + [redeem] * 20
        + [redeem_stamps] * 10
        + [void_amount] * 10
        + [void_first_earn] * 5
        + [lambda: earn(0)] * 5  # the same order reference again: earns once
    )
    random.Random(6).shuffle(jobs)
    assert len(jobs) == 100

    results = run_pool(jobs)

    unexpected = [r for r in results if isinstance(r, Exception) and not isinstance(r, LoyaltyError)]
    assert unexpected == []
    refusals = Counter(r.code for r in results if isinstance(r, LoyaltyError))
    assert set(refusals) <= {"insufficient_points", "insufficient_stamps", "already_voided", "duplicate_order"}
    assert refusals["duplicate_order"] == 5
    applied = [r for r in results if not isinstance(r, Exception)]
    card.refresh_from_db()
    # Nothing lost: each applied operation is exactly one new ledger row, and nothing else is.
    new_rows = card.transactions.exclude(pk__lte=first_earn.transaction.pk)
    assert card.transactions.count() == rows_before + len(applied)
    assert sorted(new_rows.values_list("pk", flat=True)) == sorted(r.transaction.pk for r in applied)
    assert card.lifetime_stamps == 30 == new_rows.filter(type=Type.STAMP).count()
    assert new_rows.filter(type=Type.POINTS_EARN).count() == 20
    # The first earn is voided at most once (not at all if the balance happened to be 0 at each try).
    assert new_rows.filter(related_transaction=first_earn.transaction).count() <= 1
    assert refusals["already_voided"] <= 4
    assert card.points_balance >= 0 and card.stamp_count >= 0
    assert_ledger_intact()


def _api_client(member) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {issue_token(user=member.user)[0]}")
    return client


def test_hundred_concurrent_api_operations_on_a_hundred_cards_with_retries_apply_once(settings):
    settings.LOYALTY_RATE_LIMITS = RAISED_LIMITS
    program = ProgramFactory(stamps_target=2, points_per_euro=Decimal("2.00"))
    store = StoreFactory(merchant=program.merchant)
    cashiers = [StaffMemberFactory(merchant=program.merchant, stores=[store]) for _ in range(4)]
    cards = [make_card(program=program, store=store) for _ in range(100)]
    for card in cards[::2]:  # half the cards can pay for redemptions
        services.earn_points(card=card, purchase_amount=Decimal("20"), store=store, staff_user=None)
    rows_before = LoyaltyTransaction.objects.count()
    tokens = [issue_token(user=member.user)[0] for member in cashiers]
    rng = random.Random(100)
    actions = [
        ("stamp", {}),
        ("earn-points", {"purchase_amount": "7.50"}),
        ("redeem-points", {"points": 30}),
        ("redeem-stamps", {}),
        ("void-points", {"points": 5, "reason": "return"}),
    ]
    requests = []
    for i in range(90):
        action, body = actions[i % len(actions)]
        requests.append((rng.choice(cards).card_number, action, body, f"load-{i}-{uuid.uuid4()}", tokens[i % 4]))
    # Ten retries of requests already in the list, sent at the same time as the originals.
    requests += [requests[i] for i in rng.sample(range(90), 10)]
    rng.shuffle(requests)

    def call(number: str, action: str, body: dict, key: str, token: str):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        response = client.post(f"/api/v1/cards/{number}/{action}/", body, format="json", HTTP_IDEMPOTENCY_KEY=key)
        return key, response.status_code, response.json()

    results = run_pool([lambda r=r: call(*r) for r in requests])

    assert [r for r in results if isinstance(r, Exception)] == []
    answers = [(key, status, body) for key, status, body in results]
    unexpected = [(s, b) for _, s, b in answers if s != 200 and not (s == 409 and b["error"]["code"] in {
        "insufficient_points", "insufficient_stamps", "idempotency_in_progress"})]  # fmt: skip
    assert unexpected == []
    applied_by_key: dict[str, set[int]] = {}
    for key, status, body in answers:
        if status == 200:
            applied_by_key.setdefault(key, set()).add(body["transaction"]["id"])
    # A key never gives two transactions: a retry gets the first answer back (or waits, or a 409 in progress).
    assert all(len(ids) == 1 for ids in applied_by_key.values())
    applied_ids = {next(iter(ids)) for ids in applied_by_key.values()}
    new_rows = LoyaltyTransaction.objects.filter(pk__gt=0).count() - rows_before
    assert new_rows == len(applied_ids)
    assert set(LoyaltyTransaction.objects.filter(idempotency_key__startswith="load-").values_list("pk", flat=True)) == (
        applied_ids
    )
    assert_ledger_intact()


# --- Redis stopped during POS traffic -----------------------------------------------------------


@needs_redis_server
def test_pos_keeps_working_when_redis_stops_and_the_sweep_delivers_once_it_is_back(
    wallet_on, private_redis, settings, tmp_path, caplog, monkeypatch
):
    caplog.set_level(logging.WARNING)
    monkeypatch.setattr(broker_nudges, "_broker_unavailable_until", 0.0)
    settings.LOYALTY_RATE_LIMITS = RAISED_LIMITS
    # The rate limiter's cache and the Celery broker on the private Redis, as REDIS_URL would set them.
    settings.CACHES = {
        "default": {
            "BACKEND": "core.redis_cache.RedisCache",  # as config/settings.py
            "LOCATION": private_redis.url,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    program = ProgramFactory()
    store = StoreFactory(merchant=program.merchant)
    cashiers = [StaffMemberFactory(merchant=program.merchant, stores=[store]) for _ in range(4)]
    # A card per request: a card whose update is already pending gets no second nudge, so the
    # cards reached after Redis stops are the ones whose nudges must fail, and say so.
    cards = [make_card(program=program, store=store) for _ in range(60)]
    WalletUpdate.objects.all().delete()
    rows_before = LoyaltyTransaction.objects.count()
    per_thread = 15
    done = Counter()
    lock = threading.Lock()

    def till(member, index: int) -> list[tuple[int, str]]:
        client = _api_client(member)
        answers = []
        try:
            for i in range(per_thread):
                card = cards[(index * per_thread + i) % len(cards)]
                action, body = ("stamp", {}) if i % 2 else ("earn-points", {"purchase_amount": "4.20"})
                response = client.post(
                    f"/api/v1/cards/{card.card_number}/{action}/",
                    body,
                    format="json",
                    HTTP_IDEMPOTENCY_KEY=f"till-{index}-{i}-{uuid.uuid4()}",
                )
                answers.append((response.status_code, response.content.decode()[:300]))
                with lock:
                    done["requests"] += 1
        finally:
            connections.close_all()
        return answers

    with celery_broker(private_redis.url):
        outcomes: dict[int, list] = {}
        threads = [
            threading.Thread(target=lambda m=m, i=i: outcomes.__setitem__(i, till(m, i)))
            for i, m in enumerate(cashiers)
        ]
        for thread in threads:
            thread.start()
        # Redis goes away while the tills are busy: a third of the way through.
        wait_for(lambda: done["requests"] >= len(cashiers) * per_thread // 3, "the first third of the traffic")
        private_redis.kill()
        stopped_after = done["requests"]
        for thread in threads:
            thread.join(timeout=300)

        answers = [answer for index in sorted(outcomes) for answer in outcomes[index]]
        assert len(answers) == len(cashiers) * per_thread
        assert stopped_after < len(answers), "Redis stopped after the traffic; nothing was tested"
        # Every operation succeeded, with Redis or without.
        assert [a for a in answers if a[0] != 200] == []
        assert "Rate limiter cache unavailable" in caplog.text  # the limiter failed open, and said so
        assert "could not reach the Celery broker" in caplog.text
        # Nothing lost: one ledger row per operation, balances equal to the ledger.
        assert LoyaltyTransaction.objects.count() - rows_before == len(answers)
        assert_ledger_intact()
        # The promises are kept in the database: each card has its one pending update, none delivered.
        assert set(WalletUpdate.objects.values_list("card_id", "status")) == {(card.pk, "pending") for card in cards}

        # Redis is back (empty: the nudges published before it stopped are gone with it).
        private_redis.start()
        _drop_broker_connections()
        with celery_worker(private_redis.url, tmp_path, "sweep") as worker:
            wallet.tasks.sweep_wallet_updates.delay()  # what beat sends every minute
            wait_for(
                lambda: not WalletUpdate.objects.filter(status="pending").exists(),
                "the sweep to deliver the pending updates",
                log=worker.log,
            )
    assert set(WalletUpdate.objects.values_list("card_id", "status")) == {(card.pk, "delivered") for card in cards}


# --- one long-lived worker across Redis restarts --------------------------------------------------


@needs_redis_server
def test_the_same_worker_resumes_after_redis_restarts_and_delivers_emails_and_wallet_updates(private_redis, tmp_path):
    """The production failure: a Redis restart killed the worker. Here one worker process, run as
    deploy/run runs it (prefork, no gossip/mingle/heartbeat), outlives three restarts (killed hard,
    down for a few seconds) and still delivers after each. (The solo pool can hang for good when
    Redis dies during an acknowledgement, which is why neither production nor make run uses it.)"""
    from notifications.models import OutboundEmail
    from notifications.services import queue_email
    from tests.smtp_fake import FakeSMTP

    smtp = FakeSMTP()
    program = ProgramFactory()
    card = make_card(program=program, store=StoreFactory(merchant=program.merchant))
    email_settings = {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp.port),
        "EMAIL_TIMEOUT": "5",
    }
    try:
        with (
            celery_broker(private_redis.url),
            celery_worker(private_redis.url, tmp_path, "long", pool="prefork", **email_settings) as worker,
        ):
            for restart in range(3):
                private_redis.kill()
                time.sleep(3)  # the worker notices and keeps reconnecting
                private_redis.start()
                _drop_broker_connections()
                assert worker.poll() is None, worker.log.read_text(errors="replace")[-3000:]
                email = queue_email(
                    merchant_id=program.merchant_id,
                    to_address=f"after-restart-{restart}@example.com",
                    subject="Hello",
                    body_text="x",
                    kind="test",
                )
                WalletUpdate.objects.filter(card=card).delete()
                WalletUpdate.objects.create(card=card)
                # What the after-commit nudge and beat's minute sweep send, to the restarted Redis.
                notifications_tasks.deliver_email.apply_async(args=[email.pk], retry=False)
                wallet.tasks.sweep_wallet_updates.apply_async(retry=False)
                wait_for(
                    lambda email=email: OutboundEmail.objects.get(pk=email.pk).status == "sent",
                    f"the email after restart {restart + 1}",
                    timeout=60,
                    log=worker.log,
                )
                wait_for(
                    lambda: WalletUpdate.objects.get(card=card).status == "delivered",
                    f"the wallet update after restart {restart + 1}",
                    timeout=60,
                    log=worker.log,
                )
                # Let the worker acknowledge before the next kill: Redis dying during an ack leaves
                # kombu's consumer stuck, which core/worker_watchdog.py turns into an exit for the
                # supervisor (tests/test_worker_watchdog.py); this test is about the same process.
                time.sleep(1)
            assert worker.poll() is None  # the same process all along
            assert b"Unrecoverable error" not in worker.log.read_bytes()
    finally:
        smtp.stop()
    assert sorted(message["To"] for message in smtp.messages) == [f"after-restart-{n}@example.com" for n in range(3)]


# --- a worker killed during the expiry --------------------------------------------------------


def _inactive_cards_with_points(program, count: int, points: int, inactive_days: int) -> None:
    """Many cards with points, inactive for long, each with the ledger row that gave them the points."""
    merchant = program.merchant
    customers = Customer.objects.bulk_create(
        [
            Customer(merchant=merchant, first_name="Idle", last_name=str(i), email=f"idle{i}@example.com")
            for i in range(count)
        ],
        batch_size=1000,
    )
    long_ago = timezone.now() - datetime.timedelta(days=inactive_days)
    cards = LoyaltyCard.objects.bulk_create(
        [
            LoyaltyCard(
                merchant=merchant,
                customer=customer,
                program=program,
                points_balance=points,
                lifetime_points_earned=points,
                last_activity_at=long_ago,
            )
            for customer in customers
        ],
        batch_size=1000,
    )
    LoyaltyTransaction.objects.bulk_create(
        [
            LoyaltyTransaction(
                card=card,
                merchant=merchant,
                type=Type.POINTS_ADJUST,
                points_delta=points,
                points_after=points,
                stamps_after=0,
                reason="opening balance",
                created_at=long_ago,
            )
            for card in cards
        ],
        batch_size=1000,
    )


@needs_redis_server
def test_worker_killed_during_the_expiry_then_a_rerun_expires_each_card_exactly_once(private_redis, tmp_path):
    cards, points = 6000, 40
    program = ProgramFactory(points_expiry_days=365)
    _inactive_cards_with_points(program, cards, points, inactive_days=400)
    assert_ledger_intact()
    expired = LoyaltyTransaction.objects.filter(type=Type.POINTS_EXPIRE)
    # Batches of 60 (more than the one-sweep-per-batch threshold): a hundred transactions to kill one in.
    batches = {"LOYALTY_EXPIRY_BATCH_SIZE": "60"}

    with celery_broker(private_redis.url):
        with celery_worker(private_redis.url, tmp_path, "expiry-killed", **batches) as worker:
            loyalty_tasks.expire_points.delay()
            wait_for(lambda: expired.count() >= cards // 10, "the expiry to be under way", log=worker.log)
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait(timeout=20)
        done_when_killed = expired.count()
        assert 0 < done_when_killed < cards, "the worker finished before it was killed: use more cards"
        # Each batch is one transaction: what was committed is whole, the batch in flight left no trace.
        assert_ledger_intact()
        assert LoyaltyCard.objects.filter(program=program, points_balance=0).count() == done_when_killed

        # The rerun (next night's beat, or the operator) on a new worker finishes the job.
        with celery_worker(private_redis.url, tmp_path, "expiry-rerun", **batches) as worker:
            loyalty_tasks.expire_points.delay()
            wait_for(lambda: b"points expiry done" in worker.log.read_bytes(), "the rerun", timeout=180, log=worker.log)
            # Its batches queued wallet sweeps; they are not this test's subject.
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait(timeout=20)
    assert expired.count() == cards
    # And one more run finds nothing left to expire.
    assert services.expire_points() == services.ExpiryReport(cards=0, points=0)

    # Nothing expired twice: one points_expire row per card, every balance zero, balances == ledger.
    per_card = expired.values("card").annotate(rows=Count("id"))
    assert per_card.count() == cards
    assert not per_card.filter(rows__gt=1).exists()
    assert expired.aggregate(total=Sum("points_delta"))["total"] == -cards * points
    assert not LoyaltyCard.objects.filter(program=program, points_balance__gt=0).exists()
    assert_ledger_intact()
