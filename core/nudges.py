"""Publishing a Celery message that only *nudges* a worker, without ever making a request wait.

The database row (a pending wallet update, a queued email) is the promise; the message asks
the worker to act on it soon. When the broker is down the publish gives up at once, the
process stops trying for a while, and the periodic sweeps deliver the rows later.
"""

import logging
import time
from collections.abc import Iterable

logger = logging.getLogger(__name__)

# After a failed publish, nudges are not even attempted for this long (per process): a dead
# broker costs one request a connect timeout, not every request.
BROKER_RETRY_AFTER_SECONDS = 15

_broker_unavailable_until = 0.0


def reset() -> None:
    """Forget a recent broker failure (tests, and a process that knows the broker is back)."""
    global _broker_unavailable_until
    _broker_unavailable_until = 0.0


def publish(task, calls: Iterable[tuple], *, countdown: float = 0, what: str = "update") -> bool:
    """Send ``task`` once per args tuple in ``calls``; never raises. Returns whether all were sent."""
    global _broker_unavailable_until
    calls = list(calls)
    if not calls:
        return True
    if time.monotonic() < _broker_unavailable_until:
        logger.info("Celery broker recently unreachable; the sweep will deliver %d %s(s)", len(calls), what)
        return False
    try:
        for args in calls:
            task.apply_async(args=list(args), countdown=countdown, retry=False)
    except Exception as exc:  # noqa: BLE001 - broker down: the periodic sweep delivers later
        _broker_unavailable_until = time.monotonic() + BROKER_RETRY_AFTER_SECONDS
        logger.warning("could not reach the Celery broker (%r); the sweep will deliver %d %s(s)", exc, len(calls), what)
        return False
    return True
