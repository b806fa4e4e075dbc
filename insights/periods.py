"""Reading the period, month and store an insights request asks for (400s in the SPEC's shape)."""

import datetime
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

from core.errors import LoyaltyError, invalid
from merchants.models import Merchant, Store

DEFAULT_DAYS = 30
MAX_DAYS = 731  # two years (one of them may be a leap year)
PRESETS = {"7d": 7, "30d": 30, "90d": 90}


@dataclass(frozen=True)
class Period:
    """Inclusive local days in ``TIME_ZONE``."""

    start: datetime.date
    end: datetime.date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def dates(self) -> list[datetime.date]:
        return [self.start + datetime.timedelta(days=n) for n in range(self.days)]

    def bounds(self) -> tuple[datetime.datetime, datetime.datetime]:
        """[first local midnight, the local midnight after the last day)."""
        return local_midnight(self.start), local_midnight(self.end + datetime.timedelta(days=1))


def local_tz() -> ZoneInfo:
    """Days are local days in ``TIME_ZONE``: the figures', the roll-ups' and the requests'."""
    return ZoneInfo(settings.TIME_ZONE)


def local_midnight(day: datetime.date) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=local_tz())


def today() -> datetime.date:
    return timezone.localtime(timezone.now(), local_tz()).date()


def _date(raw: str, name: str) -> datetime.date:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw or ""):
        raise invalid("invalid_date", f"`{name}` must be a date written YYYY-MM-DD, like 2026-03-31.", field=name)
    try:
        return datetime.date.fromisoformat(raw)
    except ValueError:
        raise invalid("invalid_date", f"`{name}` is not a date: {raw}.", field=name) from None


def parse_period(raw_from: str | None, raw_to: str | None, *, preset: str | None = None) -> Period:
    """``from``/``to`` (inclusive, YYYY-MM-DD) or a preset; the last 30 days by default."""
    now = today()
    if preset == "month" and not (raw_from or raw_to):
        return Period(now.replace(day=1), now)
    if preset in PRESETS and not (raw_from or raw_to):
        return Period(now - datetime.timedelta(days=PRESETS[preset] - 1), now)
    end = _date(raw_to, "to") if raw_to else now
    start = _date(raw_from, "from") if raw_from else end - datetime.timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise invalid(
            "invalid_period",
            f"`from` ({start}) is after `to` ({end}); the first day comes first.",
            **{"from": str(start), "to": str(end)},
        )
    if end > now:
        raise invalid("date_in_future", f"`to` ({end}) is in the future; the latest day is today, {now}.", to=str(end))
    if (end - start).days + 1 > MAX_DAYS:
        raise invalid(
            "period_too_long",
            f"A period covers at most {MAX_DAYS} days (two years); this one has {(end - start).days + 1}.",
            max_days=MAX_DAYS,
        )
    return Period(start, end)


def parse_month(raw: str | None) -> datetime.date:
    """``YYYY-MM`` (the current month by default), as its first day; the future is refused."""
    now = today()
    if not raw:
        return now.replace(day=1)
    match = re.fullmatch(r"(\d{4})-(\d{2})", raw)
    if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 1:
        raise invalid("invalid_month", "`month` must be written YYYY-MM, like 2026-03.", field="month")
    month = datetime.date(int(match.group(1)), int(match.group(2)), 1)
    if month > now.replace(day=1):
        raise invalid("month_in_future", f"{raw} has not started yet; the latest month is {now:%Y-%m}.", month=raw)
    return month


def find_store(merchant: Merchant, stores, code: str | None) -> Store | None:
    """The merchant's store with ``code`` among ``stores`` (a queryset already scoped to the user).

    Another merchant's store is a 404 (as every object outside the merchant); a code no merchant
    uses is a 400 naming it.
    """
    if not code:
        return None
    store = stores.filter(merchant=merchant, code=code).first()
    if store is not None:
        return store
    if Store.objects.filter(code=code).exists():
        raise LoyaltyError("store_not_found", "No store with this code at your merchant.", status=404)
    raise invalid("unknown_store", f"There is no store with the code {code!r}.", store=code)
