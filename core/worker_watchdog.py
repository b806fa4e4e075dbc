"""A liveness guard for Celery workers on Redis: exit when the consumer is stuck, so the
supervisor starts a fresh one.

When Redis dies at the moment a worker acknowledges a task, kombu logs "Couldn't ack …,
reason: ConnectionError" and swallows the error; the consumer then never notices that its
connection is gone and waits for ever, alive to any supervisor (seen with both the solo and
the prefork pool). Every restart outside that instant is survived by the same process
(README, "Production"). This guard sees the stuck state from outside the stuck connection:
the worker is idle, nothing has arrived for ``STUCK_AFTER_SECONDS``, yet Redis holds messages
in the queue the worker consumes. It then exits with status 3; supervisord (deploy/) restarts
it, and the messages, acknowledged or not, are delivered (tasks are idempotent).
"""

import logging
import os
import time

from celery import bootsteps
from celery.signals import task_received
from celery.worker import state

logger = logging.getLogger(__name__)

CHECK_EVERY_SECONDS = 15.0
# Beat sends a sweep every minute, which a healthy worker takes at once: well past that, it is stuck.
STUCK_AFTER_SECONDS = 150.0

_last_received = time.monotonic()


@task_received.connect
def _remember_arrival(**_kwargs) -> None:
    global _last_received
    _last_received = time.monotonic()


def waiting_messages(broker_url: str, queues: list[str]) -> int:
    import redis

    client = redis.Redis.from_url(broker_url, socket_connect_timeout=1, socket_timeout=2)
    try:
        return sum(client.llen(queue) for queue in queues)
    finally:
        client.close()


def is_stuck(*, now: float, last_received: float, idle: bool, waiting: int) -> bool:
    return idle and waiting > 0 and now - last_received > STUCK_AFTER_SECONDS


class StuckConsumerWatchdog(bootsteps.StartStopStep):
    """Worker bootstep: every 15 s, on the worker's own timer, look for the stuck state above."""

    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        self.broker_url = worker.app.conf.broker_url or ""
        self.enabled = self.broker_url.startswith(("redis://", "rediss://"))

    def start(self, worker) -> None:
        if self.enabled:
            worker.timer.call_repeatedly(CHECK_EVERY_SECONDS, self.check, (worker,), priority=10)

    def check(self, worker) -> None:
        queues = [queue.name for queue in worker.app.amqp.queues.values()] or ["celery"]
        try:
            waiting = waiting_messages(self.broker_url, queues)
        except Exception:  # noqa: BLE001 - Redis is down: the consumer's own reconnect loop handles that
            return
        idle = not state.active_requests and not state.reserved_requests
        if is_stuck(now=time.monotonic(), last_received=_last_received, idle=idle, waiting=waiting):
            logger.critical(
                "worker idle for %.0f s while %d message(s) wait in Redis: its broker connection is stuck "
                "(a Redis restart during an acknowledgement); exiting so the supervisor restarts it",
                time.monotonic() - _last_received,
                waiting,
            )
            os._exit(3)
