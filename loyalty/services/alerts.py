"""Anomaly alerts (SPEC, "The till under pressure"): detection, acknowledgement and the owners' digest.

The nightly job (and ``manage.py detect_anomalies``) reads the ledger and raises:

- ``card_busy_day``: a card with more than ``LOYALTY_ALERT_CARD_OPS_PER_DAY`` (5) stamps and
  earns in a calendar day (TIME_ZONE); yesterday and today are examined.
- ``staff_void_ratio``: a staff member who voided more than 10 % of the points they issued
  over the last 7 days, with at least 10 earns; at most one per staff member in 7 days.
- ``staff_adjustments``: more than 5 adjustments by one person in a calendar day.

Each alert has a ``fact_key`` unique per merchant (kind, who or which card, which day), so a
rerun never raises the same fact twice.
"""

import datetime
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from core.errors import LoyaltyError
from loyalty.models import Alert, LoyaltyTransaction
from merchants.authorization import manages_merchant
from merchants.models import Merchant, StaffMember
from notifications.services import queue_email

Type = LoyaltyTransaction.Type
Kind = Alert.Kind

VOID_RATIO_DAYS = 7
VOID_RATIO_MIN_EARNS = 10
VOID_RATIO_PERCENT = 10
ADJUSTMENTS_PER_DAY = 5


@dataclass
class DetectionReport:
    found: list[Alert] = field(default_factory=list)  # every fact above a threshold
    new: list[Alert] = field(default_factory=list)  # those not raised before (created unless a dry run)


def _ledger(merchant: Merchant | None, since: datetime.datetime) -> QuerySet[LoyaltyTransaction]:
    rows = LoyaltyTransaction.objects.filter(created_at__gte=since)
    return rows.filter(merchant=merchant) if merchant is not None else rows


def _busy_cards(merchant: Merchant | None, since: datetime.datetime, tz) -> Iterable[Alert]:
    limit = settings.LOYALTY_ALERT_CARD_OPS_PER_DAY
    rows = (
        _ledger(merchant, since)
        .filter(type__in=[Type.STAMP, Type.POINTS_EARN])
        .annotate(day=TruncDate("created_at", tzinfo=tz))
        .values("merchant_id", "card_id", "day")
        .annotate(operations=Count("id"), stamps=Count("id", filter=Q(type=Type.STAMP)))
        .filter(operations__gt=limit)
        .order_by("merchant_id", "day", "card_id")
    )
    for row in rows:
        yield Alert(
            merchant_id=row["merchant_id"],
            kind=Kind.CARD_BUSY_DAY,
            card_id=row["card_id"],
            fact_key=f"{Kind.CARD_BUSY_DAY}:card-{row['card_id']}:{row['day']}",
            details={
                "day": str(row["day"]),
                "operations": row["operations"],
                "stamps": row["stamps"],
                "earns": row["operations"] - row["stamps"],
                "limit": limit,
            },
        )


def _adjusting_staff(merchant: Merchant | None, since: datetime.datetime, tz) -> Iterable[Alert]:
    rows = (
        _ledger(merchant, since)
        .filter(type__in=[Type.POINTS_ADJUST, Type.STAMPS_ADJUST], staff_user__isnull=False)
        .annotate(day=TruncDate("created_at", tzinfo=tz))
        .values("merchant_id", "staff_user_id", "day")
        .annotate(adjustments=Count("id"))
        .filter(adjustments__gt=ADJUSTMENTS_PER_DAY)
        .order_by("merchant_id", "day", "staff_user_id")
    )
    for row in rows:
        yield Alert(
            merchant_id=row["merchant_id"],
            kind=Kind.STAFF_ADJUSTMENTS,
            staff_id=row["staff_user_id"],
            fact_key=f"{Kind.STAFF_ADJUSTMENTS}:user-{row['staff_user_id']}:{row['day']}",
            details={"day": str(row["day"]), "adjustments": row["adjustments"], "limit": ADJUSTMENTS_PER_DAY},
        )


def _voiding_staff(merchant: Merchant | None, now: datetime.datetime) -> Iterable[Alert]:
    since = now - datetime.timedelta(days=VOID_RATIO_DAYS)
    ledger = _ledger(merchant, since).filter(staff_user__isnull=False).order_by()
    earns = {
        (row["merchant_id"], row["staff_user_id"]): row
        for row in ledger.filter(type=Type.POINTS_EARN)
        .values("merchant_id", "staff_user_id")
        .annotate(earns=Count("id"), issued=Sum("points_delta"))
        .filter(earns__gte=VOID_RATIO_MIN_EARNS)
    }
    if not earns:
        return
    voids = (
        ledger.filter(type=Type.POINTS_VOID, staff_user_id__in={staff for _, staff in earns})
        .values("merchant_id", "staff_user_id")
        .annotate(voided=-Sum("points_delta"))
    )
    # One alert per staff member in a 7-day window: the window moves every night.
    recent = set(
        Alert.objects.filter(kind=Kind.STAFF_VOID_RATIO, created_at__gte=since).values_list("merchant_id", "staff_id")
    )
    day = timezone.localdate(now)
    for row in voids:
        key = (row["merchant_id"], row["staff_user_id"])
        issued = earns.get(key, {}).get("issued") or 0
        if key not in earns or key in recent or issued <= 0:
            continue
        if row["voided"] * 100 > issued * VOID_RATIO_PERCENT:
            yield Alert(
                merchant_id=row["merchant_id"],
                kind=Kind.STAFF_VOID_RATIO,
                staff_id=row["staff_user_id"],
                fact_key=f"{Kind.STAFF_VOID_RATIO}:user-{row['staff_user_id']}:{day}",
                details={
                    "days": VOID_RATIO_DAYS,
                    "earns": earns[key]["earns"],
                    "points_issued": issued,
                    "points_voided": row["voided"],
                    "percent": round(row["voided"] * 100 / issued, 1),
                },
            )


def detect_anomalies(
    *, merchant: Merchant | None = None, now: datetime.datetime | None = None, dry_run: bool = False
) -> DetectionReport:
    """Raise the alerts the ledger shows since yesterday (7 days for void ratios); never one twice."""
    now = now or timezone.now()
    tz = timezone.get_current_timezone()
    yesterday = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0) - datetime.timedelta(days=1)
    report = DetectionReport()
    report.found = [
        *_busy_cards(merchant, yesterday, tz),
        *_adjusting_staff(merchant, yesterday, tz),
        *_voiding_staff(merchant, now),
    ]
    if not report.found:
        return report
    raised = set(
        Alert.objects.filter(fact_key__in=[a.fact_key for a in report.found]).values_list("merchant_id", "fact_key")
    )
    report.new = [alert for alert in report.found if (alert.merchant_id, alert.fact_key) not in raised]
    for alert in report.new:
        alert.created_at = now
    if not dry_run and report.new:
        # A concurrent run that raised the same fact a moment ago wins; this one skips it.
        Alert.objects.bulk_create(report.new, ignore_conflicts=True)
    return report


def acknowledge_alert(*, alert: Alert, by_user: AbstractBaseUser, now: datetime.datetime | None = None) -> Alert:
    """Mark an alert seen by a manager or owner of its merchant; acknowledging twice keeps the first."""
    if not manages_merchant(by_user, alert.merchant_id):
        raise LoyaltyError("permission_denied", "Only a manager or the owner can acknowledge alerts.", status=403)
    Alert.objects.filter(pk=alert.pk, acknowledged_at__isnull=True).update(
        acknowledged_by=by_user, acknowledged_at=now or timezone.now()
    )
    alert.refresh_from_db()
    return alert


def describe(alert: Alert) -> str:
    d = alert.details
    if alert.kind == Kind.CARD_BUSY_DAY:
        card = alert.card.card_number if alert.card else "a deleted card"
        return f"Card {card}: {d['operations']} stamps and earns on {d['day']} (more than {d['limit']})."
    who = alert.staff.get_username() if alert.staff else "someone"
    if alert.kind == Kind.STAFF_ADJUSTMENTS:
        return f"{who}: {d['adjustments']} adjustments on {d['day']} (more than {d['limit']})."
    return (
        f"{who}: voided {d['points_voided']} of the {d['points_issued']} points they issued in "
        f"{d['days']} days ({d['percent']} %, over {d['earns']} earns)."
    )


def send_alert_digests(*, merchant: Merchant | None = None, now: datetime.datetime | None = None) -> int:
    """Email each owner the alerts raised in the last 24 hours, once a day; nothing when there are none."""
    now = now or timezone.now()
    new = (
        Alert.objects.filter(created_at__gt=now - datetime.timedelta(days=1), acknowledged_at__isnull=True)
        .select_related("merchant", "card", "staff")
        .order_by("merchant_id", "created_at", "pk")
    )
    if merchant is not None:
        new = new.filter(merchant=merchant)
    by_merchant: dict[int, list[Alert]] = {}
    for alert in new:
        by_merchant.setdefault(alert.merchant_id, []).append(alert)
    day = timezone.localdate(now)
    queued = 0
    for merchant_id, alerts in by_merchant.items():
        owners = StaffMember.objects.filter(
            merchant_id=merchant_id, role=StaffMember.Role.OWNER, user__is_active=True
        ).exclude(user__email="")
        lines = "\n".join(f"- {describe(alert)}" for alert in alerts)
        name = alerts[0].merchant.name
        for owner in owners.select_related("user"):
            email = queue_email(
                merchant_id=merchant_id,
                to_address=owner.user.email,
                subject=f"{name}: {len(alerts)} new alert{'s' if len(alerts) != 1 else ''} at the till",
                body_text=(
                    f"New alerts for {name} since yesterday:\n\n{lines}\n\n"
                    f"See and acknowledge them in the admin ({settings.LOYALTY_PUBLIC_BASE_URL}/admin/loyalty/alert/)."
                ),
                kind="alert_digest",
                dedupe_key=f"alert-digest:{merchant_id}:{day}:{owner.user_id}",
            )
            queued += email is not None
    return queued
