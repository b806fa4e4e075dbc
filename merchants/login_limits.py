"""Sign-in limits, one budget for every way in: the admin, the POS page and the API token.

Failed sign-ins are counted on the shared cache with django-ratelimit's counters, twice:

- per username, normalised the way Django's login forms normalise it before authenticating
  (``strip`` and NFKC, ``AbstractBaseUser.normalize_username``) and case-folded, because the admin
  keeps usernames unique whatever their case: ``ｍａｎａｇｅｒ``, ``Manager`` and ``manager`` share one
  budget (``LOYALTY_LOGIN_LIMIT_PER_USERNAME``, default 10 per 15 minutes);
- per client address, as the other per-address limits see it (``RATELIMIT_IP_META_KEY`` behind a
  proxy, IPv6 by /64), so one password tried across many usernames is stopped too
  (``LOYALTY_LOGIN_LIMIT_PER_ADDRESS``, default 30 per 15 minutes).

Once either count reaches its limit, every sign-in for that username or from that address is
refused, the right password included, until the window ends; successful sign-ins cost nothing.
Each surface asks :func:`retry_after` before authenticating and calls :func:`record_failure` when
authentication fails. When the cache is down the limits let sign-ins through and log a warning,
like the rest of the limiter.
"""

import logging
import math
import unicodedata

from django.conf import settings
from django.utils.translation import ngettext
from django_ratelimit.core import get_usage

logger = logging.getLogger(__name__)

USERNAME_GROUP = "merchants.login.username"
ADDRESS_GROUP = "merchants.login.address"
# Longer than any username (150); what is past it cannot name an account anyway.
MAX_USERNAME_LENGTH = 200


def username_key(username: object) -> str:
    """The name a sign-in is counted under: stripped, NFKC-normalised and case-folded."""
    text = unicodedata.normalize("NFKC", str(username or "")[:MAX_USERNAME_LENGTH].strip())
    return unicodedata.normalize("NFKC", text.casefold())


def _limits(username: object) -> list[tuple[str, str, object]]:
    name = username_key(username)
    return [
        (USERNAME_GROUP, settings.LOYALTY_LOGIN_LIMIT_PER_USERNAME, lambda _group, _request: f"user:{name}"),
        (ADDRESS_GROUP, settings.LOYALTY_LOGIN_LIMIT_PER_ADDRESS, "ip"),
    ]


def _usage(request, *, group: str, rate: str, key, increment: bool) -> dict | None:
    try:
        return get_usage(request, group=group, key=key, rate=rate, increment=increment)
    except Exception:  # noqa: BLE001 - cache down (or no client address): fail open, logged
        logger.warning(
            "Sign-in limiter unavailable for %s; letting the sign-in through (fail open)", group, exc_info=True
        )
        return None


def retry_after(request, username: object) -> int | None:
    """Seconds until this sign-in may be tried again, or ``None`` when it may go ahead now."""
    waits = []
    for group, rate, key in _limits(username):
        usage = _usage(request, group=group, rate=rate, key=key, increment=False)
        if usage is not None and usage["count"] >= usage["limit"]:
            waits.append(max(1, usage["time_left"]))
    return max(waits) if waits else None


def record_failure(request, username: object) -> None:
    """Count one failed sign-in against the username and the client address."""
    for group, rate, key in _limits(username):
        _usage(request, group=group, rate=rate, key=key, increment=True)


def refusal_message(seconds: int) -> str:
    """What the person signing in reads, in the request's language."""
    minutes = max(1, math.ceil(seconds / 60))
    return ngettext(
        "Too many failed sign-ins for this username or from this network. Try again in %(minutes)d minute.",
        "Too many failed sign-ins for this username or from this network. Try again in %(minutes)d minutes.",
        minutes,
    ) % {"minutes": minutes}
