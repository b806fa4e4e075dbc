"""Scheduled jobs on Celery: task options, the beat schedule, coalesced wallet updates, a dead
broker, and a real worker on Redis running the expiry and delivering wallet updates."""

import contextlib
import datetime
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
from celery.schedules import crontab
from django.conf import settings
from django.db import OperationalError, connection
from django.utils import timezone

import wallet.tasks
from config.celery import app as celery_app
from core import nudges as broker_nudges
from loyalty import services
from loyalty import tasks as loyalty_tasks
from loyalty.models import LoyaltyCard, LoyaltyTransaction
from tests.factories import ProgramFactory, StoreFactory, UserFactory, make_card
from tests.support import ON_POSTGRES
from wallet import delivery
from wallet.models import WalletUpdate

# Nothing listens on port 1: connections are refused at once, as with Redis stopped.
UNREACHABLE_BROKER = "redis://127.0.0.1:1/0"
TASKS = [loyalty_tasks.expire_points, wallet.tasks.deliver_wallet_update, wallet.tasks.sweep_wallet_updates]


@pytest.fixture(autouse=True)
def _broker_breaker_closed(monkeypatch):
    # A dead broker makes a process skip nudges for a while; every test starts afresh (and leaves no trace).
    monkeypatch.setattr(broker_nudges, "_broker_unavailable_until", 0.0)


def _drop_broker_connections() -> None:
    # The app caches its connection and producer pools for the URL it first saw.
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@contextlib.contextmanager
def celery_broker(url: str, transport_options: dict):
    """Publish to a real broker (not eagerly) from this process for the block."""
    conf = celery_app.conf
    saved = conf.broker_url, conf.broker_transport_options, conf.task_always_eager
    conf.broker_url, conf.broker_transport_options, conf.task_always_eager = url, transport_options, False
    _drop_broker_connections()
    try:
        yield
    finally:
        _drop_broker_connections()
        conf.broker_url, conf.broker_transport_options, conf.task_always_eager = saved


def operator():
    return UserFactory(username="operator", is_superuser=True, is_staff=True)


def card_with_points(program, store, points=100, inactive_days=0) -> LoyaltyCard:
    card = make_card(program=program, store=store)
    services.adjust_balance(card=card, staff_user=operator(), reason="test balance", points_delta=points)
    if inactive_days:
        LoyaltyCard.objects.filter(pk=card.pk).update(
            last_activity_at=timezone.now() - datetime.timedelta(days=inactive_days)
        )
    return card


def earn(card, store, amount="10.00"):
    return services.earn_points(card=card, purchase_amount=Decimal(amount), store=store, staff_user=None)


# --- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize("task", TASKS, ids=lambda task: task.name)
def test_tasks_ack_late_retry_transient_errors_with_backoff_and_have_time_limits(task):
    assert task.acks_late is True
    assert OperationalError in task.autoretry_for
    assert task.retry_backoff and task.retry_jitter
    assert 1 <= task.max_retries <= 10
    assert 0 < task.soft_time_limit < task.time_limit
    # Redis redelivers an unacknowledged message after the visibility timeout: a task still
    # running then would run twice at once.
    assert task.time_limit < settings.LOYALTY_REDIS_BROKER_OPTIONS["visibility_timeout"]


def test_beat_runs_the_expiry_nightly_and_the_wallet_sweep_every_minute():
    schedule = settings.CELERY_BEAT_SCHEDULE
    nightly = schedule["expire-points-nightly"]
    assert nightly["task"] == loyalty_tasks.expire_points.name
    assert nightly["schedule"] == crontab(hour=settings.LOYALTY_EXPIRY_HOUR, minute=0)
    sweep = schedule["sweep-wallet-updates"]
    assert sweep["task"] == wallet.tasks.sweep_wallet_updates.name
    assert sweep["schedule"] == 60.0
    assert sweep["options"]["expires"] < 60
    celery_app.loader.import_default_modules()  # what a worker does at start: every app's tasks module
    for entry in schedule.values():
        assert entry["task"] in celery_app.tasks


def test_publishing_to_redis_fails_fast():
    options = settings.LOYALTY_REDIS_BROKER_OPTIONS
    assert options["max_retries"] == 0
    assert options["socket_connect_timeout"] <= 2 and options["socket_timeout"] <= 3
    assert settings.CELERY_TASK_PUBLISH_RETRY is False


# --- tasks -----------------------------------------------------------------------------------


def test_expiry_task_expires_and_reports(db):
    program = ProgramFactory(points_expiry_days=30)
    store = StoreFactory(merchant=program.merchant)
    stale = card_with_points(program, store, points=40, inactive_days=31)
    fresh = card_with_points(program, store, points=40)

    result = loyalty_tasks.expire_points.delay().get()

    assert result == {"cards": 1, "points": 40}
    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert (stale.points_balance, fresh.points_balance) == (0, 40)
    assert loyalty_tasks.expire_points.delay().get() == {"cards": 0, "points": 0}  # idempotent


def test_many_changes_within_the_window_push_the_card_once(
    wallet_on, card, store, monkeypatch, django_capture_on_commit_callbacks
):
    pushes = []
    monkeypatch.setattr(delivery, "push_card", pushes.append)
    WalletUpdate.objects.all().delete()

    with django_capture_on_commit_callbacks() as nudges:
        for _ in range(3):
            earn(card, store)
    assert WalletUpdate.objects.filter(card=card, status="pending").count() == 1  # coalesced in the outbox
    for nudge in nudges:  # each commit's nudge reaches the worker (eager here: no countdown)
        nudge()

    assert pushes == [card.pk]
    assert list(WalletUpdate.objects.filter(card=card).values_list("status", "attempts")) == [("delivered", 1)]


def test_sweep_delivers_lost_and_due_updates_but_not_retries_still_waiting(db, monkeypatch):
    pushes = []
    monkeypatch.setattr(delivery, "push_card", pushes.append)
    program = ProgramFactory()
    lost, due, waiting = (make_card(program=program) for _ in range(3))
    WalletUpdate.objects.all().delete()
    now = timezone.now()
    WalletUpdate.objects.create(card=lost)
    WalletUpdate.objects.create(card=due, attempts=2, next_attempt_at=now - datetime.timedelta(seconds=1))
    WalletUpdate.objects.create(card=waiting, attempts=2, next_attempt_at=now + datetime.timedelta(minutes=5))

    assert wallet.tasks.sweep_wallet_updates.delay().get() == 2

    assert sorted(pushes) == sorted([lost.pk, due.pk])
    assert WalletUpdate.objects.get(card=waiting).status == "pending"
    assert wallet.tasks.sweep_wallet_updates.delay().get() == 0


def test_sweep_stops_at_its_time_budget(db, monkeypatch):
    monkeypatch.setattr(delivery, "push_card", lambda card_id: None)
    make_card()
    assert WalletUpdate.objects.filter(status="pending").exists()

    assert wallet.tasks.sweep_wallet_updates(time_budget=0) == 0
    assert wallet.tasks.sweep_wallet_updates() == 1


def test_a_large_batch_is_nudged_with_one_sweep_not_one_message_per_card(monkeypatch):
    sent = []
    monkeypatch.setattr(wallet.tasks.sweep_wallet_updates, "apply_async", lambda **kw: sent.append(("sweep", kw)))
    monkeypatch.setattr(wallet.tasks.deliver_wallet_update, "apply_async", lambda **kw: sent.append(("one", kw)))

    wallet.tasks.enqueue_deliveries(list(range(1, wallet.tasks.SWEEP_THRESHOLD + 2)))
    wallet.tasks.enqueue_deliveries([7])

    assert [kind for kind, _ in sent] == ["sweep", "one"]
    assert all(kw["countdown"] == wallet.tasks.COALESCE_SECONDS and kw["retry"] is False for _, kw in sent)


# --- broker down -----------------------------------------------------------------------------


def test_pos_operation_succeeds_quickly_with_the_broker_down_and_the_sweep_delivers_later(
    wallet_on, card, store, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    pushes = []
    monkeypatch.setattr(delivery, "push_card", pushes.append)
    WalletUpdate.objects.all().delete()

    with celery_broker(UNREACHABLE_BROKER, settings.LOYALTY_REDIS_BROKER_OPTIONS):
        timings = []
        for amount in ("12.50", "3.00"):
            started = time.monotonic()
            with django_capture_on_commit_callbacks(execute=True):
                earn(card, store, amount)
            timings.append(time.monotonic() - started)

    assert max(timings) < 1.5, timings  # refused at once; the second does not even try
    assert "could not reach the Celery broker" in caplog.text
    card.refresh_from_db()
    assert card.points_balance == 15
    assert card.transactions.filter(type=LoyaltyTransaction.Type.POINTS_EARN).count() == 2
    assert list(WalletUpdate.objects.filter(card=card).values_list("status", flat=True)) == ["pending"]
    assert pushes == []

    # The broker is back (tasks run inline again here): the periodic sweep delivers the update.
    wallet.tasks.sweep_wallet_updates.delay().get()

    assert pushes == [card.pk]
    assert list(WalletUpdate.objects.filter(card=card).values_list("status", flat=True)) == ["delivered"]


# --- a real worker on Redis --------------------------------------------------------------------


def worker_broker_url() -> str | None:
    """The worker's broker: LOYALTY_TEST_WORKER_REDIS_URL, else REDIS_URL's server with the next db number."""
    if url := os.environ.get("LOYALTY_TEST_WORKER_REDIS_URL"):
        return url
    if not settings.REDIS_URL:
        return None
    parts = urlsplit(settings.REDIS_URL)
    db = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{(db + 1) % 16}"))


needs_worker = pytest.mark.skipif(
    not (settings.REDIS_URL and ON_POSTGRES),
    reason="starts a real Celery worker: needs REDIS_URL (its broker) and DATABASE_URL=postgres://… "
    "(a test database a second process can share)",
)


def shared_database_url() -> str:
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = db["HOST"] or "localhost"
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{credentials}@{host}{port}/{db['NAME']}"


def wait_for(condition, what: str, log: Path, timeout: float = 45.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-4000:] if log.exists() else "(no log)"
            pytest.fail(f"timed out waiting for {what}; worker log:\n{tail}")
        time.sleep(0.2)


@pytest.fixture
def celery_worker(transactional_db, tmp_path):
    """A `celery -A config worker` subprocess on its own Redis db, sharing the test database."""
    import redis

    broker = worker_broker_url()
    redis.Redis.from_url(broker).delete("celery", "unacked", "unacked_index")  # leftovers of an aborted run
    env = os.environ | {
        "DATABASE_URL": shared_database_url(),
        "REDIS_URL": broker,
        "LOYALTY_VAR_DIR": str(tmp_path / "var"),
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    log = tmp_path / "worker.log"
    command = [
        sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "--loglevel=INFO",
        "--without-mingle", "--without-gossip", "--without-heartbeat", "-n", f"jobs-test-{os.getpid()}@%h",
    ]  # fmt: skip
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=settings.BASE_DIR, env=env, stdout=output, stderr=subprocess.STDOUT)
    process.log = log
    try:
        wait_for(lambda: process.poll() is not None or b"ready." in log.read_bytes(), "the worker to start", log, 60)
        assert process.poll() is None, log.read_text(errors="replace")
        with celery_broker(broker, settings.LOYALTY_REDIS_BROKER_OPTIONS):
            yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def nothing_pending() -> bool:
    return not WalletUpdate.objects.filter(status="pending").exists()


@needs_worker
def test_real_worker_runs_the_expiry_and_delivers_coalesced_wallet_updates(wallet_on, celery_worker):
    log = celery_worker.log
    program = ProgramFactory(points_expiry_days=30)
    store = StoreFactory(merchant=program.merchant)
    stale = card_with_points(program, store, points=80, inactive_days=45)
    active = card_with_points(program, store, points=10)

    loyalty_tasks.expire_points.delay()

    wait_for(lambda: LoyaltyCard.objects.get(pk=stale.pk).points_balance == 0, "the expiry", log)
    [row] = stale.transactions.filter(type=LoyaltyTransaction.Type.POINTS_EXPIRE)
    assert row.points_delta == -80
    assert LoyaltyCard.objects.get(pk=active.pk).points_balance == 10
    # The expiry's wallet update (and those of the cards' creation) are delivered by the worker.
    wait_for(nothing_pending, "the wallet updates of the expiry", log)
    # (one delivery after the expiry; the card's earlier changes may have coalesced into it)
    assert stale.wallet_updates.filter(status="delivered", delivered_at__gte=row.created_at).count() == 1

    since = timezone.now()
    for _ in range(3):  # three sales within the coalescing window
        earn(active, store)
    assert active.wallet_updates.filter(status="pending").count() == 1

    wait_for(nothing_pending, "the wallet update of the sales", log)
    assert list(active.wallet_updates.filter(created_at__gte=since).values_list("status", "attempts")) == [
        ("delivered", 1)
    ]


@needs_worker
def test_real_worker_sweep_delivers_what_a_dead_broker_lost(wallet_on, celery_worker):
    log = celery_worker.log
    program = ProgramFactory()
    store = StoreFactory(merchant=program.merchant)
    card = card_with_points(program, store, points=10)
    wait_for(nothing_pending, "the card's first wallet updates", log)

    with celery_broker(UNREACHABLE_BROKER, settings.LOYALTY_REDIS_BROKER_OPTIONS):
        started = time.monotonic()
        earn(card, store)
        elapsed = time.monotonic() - started

    assert elapsed < 1.5
    time.sleep(wallet.tasks.COALESCE_SECONDS + 1)  # no nudge reached the worker: still pending
    assert card.wallet_updates.filter(status="pending").count() == 1

    wallet.tasks.sweep_wallet_updates.delay()  # what beat sends every minute, now that the broker is back

    wait_for(nothing_pending, "the sweep", log)
    assert card.wallet_updates.latest("created_at").status == "delivered"
