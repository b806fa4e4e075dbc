"""Per staff user rate limits (django-ratelimit on the shared default cache).

The numbers come from ``settings.LOYALTY_RATE_LIMITS`` (``stamp``, ``earn``, ``redeem``,
``void``, ``adjust``, ``pin``), read on every request so a deployment can raise them. A view
names its group per action in ``rate_limit_groups``. When the cache is unreachable the
limiter lets the request through and logs it: the till keeps working. Sign-ins have their own
limits, per username and per client address (merchants/login_limits.py).
"""

import logging

from django.conf import settings
from django_ratelimit.core import get_usage
from rest_framework.throttling import BaseThrottle

logger = logging.getLogger(__name__)


def rate_for(group: str) -> str | None:
    return settings.LOYALTY_RATE_LIMITS.get(group)


def usage(request, *, group: str, key: str) -> dict | None:
    """Count one hit of ``key`` in ``group``; ``None`` when unlimited or the cache is down."""
    rate = rate_for(group)
    if not rate:
        return None
    try:
        return get_usage(request, group=f"loyalty.{group}", key=lambda _group, _request: key, rate=rate, increment=True)
    except Exception:  # noqa: BLE001 - any cache failure: fail open, never block the till
        logger.warning("Rate limiter cache unavailable; allowing %s request (fail open)", group, exc_info=True)
        return None


class StaffRateLimit(BaseThrottle):
    """DRF throttle that applies the view's django-ratelimit group for the current action."""

    def allow_request(self, request, view) -> bool:
        self._wait = None
        groups = getattr(view, "rate_limit_groups", {})
        group = groups.get(getattr(view, "action", None) or "") or getattr(view, "rate_limit_group", None)
        if not group:
            return True
        if hasattr(view, "rate_limit_key"):
            key = view.rate_limit_key(request)
        elif request.user is not None and request.user.is_authenticated:
            key = f"user:{request.user.pk}"
        else:
            key = f"ip:{self.get_ident(request)}"
        result = usage(request, group=group, key=key)
        if result is None or not result["should_limit"]:
            return True
        self._wait = max(1, result["time_left"])
        return False

    def wait(self) -> float | None:
        return self._wait
