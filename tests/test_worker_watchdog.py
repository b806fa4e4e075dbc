"""The stuck-consumer guard: a worker idle while Redis holds its messages exits for its supervisor."""

import os
import types
import uuid

import pytest

from core import worker_watchdog
from core.worker_watchdog import STUCK_AFTER_SECONDS, StuckConsumerWatchdog, is_stuck

needs_redis = pytest.mark.skipif(
    not os.environ.get("REDIS_URL"), reason="the guard counts messages in a real Redis queue: set REDIS_URL (CI does)"
)


def test_stuck_means_idle_with_messages_waiting_for_long():
    long_ago = 1000.0 - STUCK_AFTER_SECONDS - 1
    assert is_stuck(now=1000.0, last_received=long_ago, idle=True, waiting=2)
    assert not is_stuck(now=1000.0, last_received=long_ago, idle=False, waiting=2)  # busy on a long task
    assert not is_stuck(now=1000.0, last_received=long_ago, idle=True, waiting=0)  # nothing to do
    assert not is_stuck(now=1000.0, last_received=1000.0 - 5, idle=True, waiting=2)  # just took one


def _worker(broker_url: str, queue: str):
    app = types.SimpleNamespace(
        conf=types.SimpleNamespace(broker_url=broker_url),
        amqp=types.SimpleNamespace(queues={queue: types.SimpleNamespace(name=queue)}),
    )
    return types.SimpleNamespace(app=app)


@needs_redis
def test_the_guard_exits_only_when_messages_wait_in_redis(monkeypatch):
    import redis

    url = os.environ["REDIS_URL"]
    queue = f"watchdog-test-{uuid.uuid4().hex}"
    exits = []
    monkeypatch.setattr(worker_watchdog.os, "_exit", exits.append)
    monkeypatch.setattr(worker_watchdog, "_last_received", 0.0)  # nothing received for ages
    guard = StuckConsumerWatchdog(_worker(url, queue))
    assert guard.enabled

    guard.check(_worker(url, queue))
    assert exits == []  # idle, nothing waiting: a quiet night, not a stuck consumer

    client = redis.Redis.from_url(url)
    client.lpush(queue, b"{}")
    try:
        guard.check(_worker(url, queue))
        assert exits == [3]
    finally:
        client.delete(queue)


def test_the_guard_is_off_without_redis():
    assert not StuckConsumerWatchdog(_worker("filesystem://localhost//", "celery")).enabled
