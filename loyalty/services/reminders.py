"""Points expiry reminders: one per card and expiry date, before the points expire.

A card whose points expire within its program's ``expiry_reminder_days`` gets one reminder for
that expiry date (an ``ExpiryReminder`` row, unique per card and date): its wallet pass is
refreshed to show the date and amount (with a change message), and an email goes to the
customer in their language unless they switched emails off. Activity (a stamp, an earn, a
redemption) moves the expiry date, so a card that was active again and later nears its new
date is reminded again. A rerun, or two runs at once, remind nobody twice.
"""

import datetime
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.db.models import QuerySet, Value
from django.db.models.functions import Greatest
from django.utils import timezone
from django.utils.translation import ngettext

from loyalty.models import ExpiryReminder, LoyaltyCard, LoyaltyProgram
from loyalty.selectors import PointsExpiry, points_expiry
from wallet.outbox import schedule_pass_updates

logger = logging.getLogger(__name__)

CHUNK = 500


@dataclass(frozen=True)
class ReminderNotice:
    card_id: int
    card_number: str
    merchant_slug: str
    customer_name: str
    points: int
    expires_on: datetime.date
    email: bool  # an email goes (or would go) to the customer


@dataclass
class ReminderReport:
    sent: list[ReminderNotice] = field(default_factory=list)
    skipped: int = 0  # chosen, but reminded by another run meanwhile or no longer due


def reminder_programs(merchant_slug: str | None = None) -> QuerySet[LoyaltyProgram]:
    programs = LoyaltyProgram.objects.filter(
        points_expiry_days__isnull=False,
        expiry_reminder_days__isnull=False,
        kind__in=[LoyaltyProgram.Kind.POINTS, LoyaltyProgram.Kind.HYBRID],
        is_active=True,
        merchant__is_active=True,
    )
    if merchant_slug:
        programs = programs.filter(merchant__slug=merchant_slug)
    return programs.select_related("merchant").order_by("pk")


def _local_midnight(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def expiring_cards(program: LoyaltyProgram, today: datetime.date) -> QuerySet[LoyaltyCard]:
    """Live, active cards with points whose expiry date is between today and today + reminder days.

    The expiry date is the local date of ``last_activity_at`` + N days, so the range of expiry
    dates is a range of ``last_activity_at`` (the card_expiry_candidates_idx index).
    """
    inactivity = datetime.timedelta(days=program.points_expiry_days)
    last_day = today + datetime.timedelta(days=program.expiry_reminder_days)
    cards = LoyaltyCard.objects.alive()
    clock = "last_activity_at"
    if program.points_expiry_changed_at is not None:
        # A shortened expiry counts from the change at the earliest (loyalty/selectors.py, points_expiry).
        cards = cards.annotate(expiry_clock=Greatest("last_activity_at", Value(program.points_expiry_changed_at)))
        clock = "expiry_clock"
    return (
        cards.filter(
            program=program,
            is_active=True,
            points_balance__gt=0,
            **{
                f"{clock}__gte": _local_midnight(today) - inactivity,
                f"{clock}__lt": _local_midnight(last_day + datetime.timedelta(days=1)) - inactivity,
            },
        )
        .select_related("customer", "merchant", "program")
        .order_by("pk")
    )


def due_reminders(
    *, merchant_slug: str | None = None, today: datetime.date | None = None
) -> Iterator[tuple[LoyaltyCard, PointsExpiry]]:
    """Cards due a reminder now, with their expiry (the dry run): nothing is written."""
    today = today or timezone.localdate()
    for program in reminder_programs(merchant_slug):
        cards = expiring_cards(program, today)
        after = 0
        while chunk := list(cards.filter(pk__gt=after)[:CHUNK]):
            after = chunk[-1].pk
            reminded = set(
                ExpiryReminder.objects.filter(card__in=chunk, expires_on__gte=today).values_list(
                    "card_id", "expires_on"
                )
            )
            for card in chunk:
                expiry = points_expiry(card)
                if expiry is not None and expiry.is_near(today) and (card.pk, expiry.expires_on) not in reminded:
                    yield card, expiry


def send_expiry_reminders(
    *,
    merchant_slug: str | None = None,
    today: datetime.date | None = None,
    now: datetime.datetime | None = None,
    on_sent: Callable[[ReminderNotice], None] | None = None,
) -> ReminderReport:
    """Remind every card due a reminder (the daily job)."""
    now = now or timezone.now()
    today = today or timezone.localdate(now)
    report = ReminderReport()
    for card, _ in list(due_reminders(merchant_slug=merchant_slug, today=today)):
        notice = send_expiry_reminder(card_id=card.pk, today=today, now=now)
        if notice is None:
            report.skipped += 1
            continue
        report.sent.append(notice)
        if on_sent:
            on_sent(notice)
    return report


def wants_reminder_email(card: LoyaltyCard) -> bool:
    return bool(not card.customer.email_opt_out and card.customer.email)


def send_expiry_reminder(*, card_id: int, today: datetime.date, now: datetime.datetime) -> ReminderNotice | None:
    """Remind one card of its points expiry; None when not due (any more) or already reminded."""
    try:
        with transaction.atomic(durable=True):
            card = (
                LoyaltyCard.objects.select_for_update(of=("self",), no_key=True)
                .select_related("program", "merchant", "customer")
                .get(pk=card_id)
            )
            expiry = points_expiry(card)
            if not (card.is_active and expiry is not None and expiry.is_near(today)):
                return None
            if ExpiryReminder.objects.filter(card=card, expires_on=expiry.expires_on).exists():
                return None
            email = wants_reminder_email(card)
            ExpiryReminder.objects.create(
                card=card, expires_on=expiry.expires_on, points=expiry.points, emailed=email, created_at=now
            )
            # The pass now shows the date and amount: a new version for Apple devices, a Google patch.
            LoyaltyCard.objects.filter(pk=card.pk).update(updated_at=timezone.now())
            schedule_pass_updates([card.pk])
            if email:
                _queue_reminder_email(card, expiry)
            return ReminderNotice(
                card_id=card.pk,
                card_number=card.card_number,
                merchant_slug=card.merchant.slug,
                customer_name=card.customer.full_name,
                points=expiry.points,
                expires_on=expiry.expires_on,
                email=email,
            )
    except IntegrityError as exc:
        if "expiry_reminder" not in str(exc) and "expires_on" not in str(exc):
            raise
        logger.info("expiry reminder of card %s already sent by another run", card_id)
        return None


def _queue_reminder_email(card: LoyaltyCard, expiry: PointsExpiry) -> None:
    from customers.birth_dates import date_in_words
    from customers.emails import queue_customer_email

    def subject() -> str:
        return ngettext("%(count)d point expires on %(date)s", "%(count)d points expire on %(date)s", expiry.points) % {
            "count": expiry.points,
            "date": date_in_words(expiry.expires_on),
        }

    def sentence() -> str:
        return ngettext(
            "%(count)d point on your %(merchant)s card will expire on %(date)s.",
            "%(count)d points on your %(merchant)s card will expire on %(date)s.",
            expiry.points,
        ) % {"count": expiry.points, "merchant": card.merchant.name, "date": date_in_words(expiry.expires_on)}

    queue_customer_email(
        card=card,
        template="expiry_reminder",
        kind="expiry_reminder",
        subject=subject,
        context={"expiry": expiry, "expiry_sentence": sentence},
        dedupe_key=f"expiry:{card.pk}:{expiry.expires_on.isoformat()}",
    )
