"""Birthday rewards: the program's birthday bonus, once per card and calendar year.

Every live, active card of an active program with a birthday bonus whose customer's birthday
(month and day; 29 February is celebrated on 28 February in a common year) is today in
``TIME_ZONE`` gets the bonus, except when the card was issued or the birth date changed less
than ``BIRTHDAY_WAIT`` ago (no "change my birthday to today" and no "join on my birthday").

Each card is its own transaction: the card row is locked, the rules checked again under the
lock, the ledger row ``birthday_bonus`` written with its ``bonus_year``. The unique constraint
``ledger_birthday_bonus_once_per_card_year`` makes a second grant impossible whatever runs at
the same time (two workers, a rerun, the command by hand). Customers who accepted marketing
(and did not switch emails off) get a birthday email in their language.
"""

import calendar
import datetime
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from loyalty.models import LoyaltyCard, LoyaltyProgram, LoyaltyTransaction
from loyalty.selectors import birthday_in
from loyalty.services.ledger import Type, save_card, write_ledger
from wallet.outbox import schedule_pass_updates

logger = logging.getLogger(__name__)

BIRTHDAY_WAIT = datetime.timedelta(days=30)


@dataclass(frozen=True)
class BirthdayGrant:
    card_id: int
    card_number: str
    merchant_slug: str
    customer_name: str
    points: int
    stamps: int
    email: bool  # a birthday email goes (or would go) to the customer


@dataclass
class BirthdayReport:
    granted: list[BirthdayGrant] = field(default_factory=list)
    # Chosen but not granted in the end: granted by another run meanwhile, or no longer eligible.
    skipped: int = 0

    @property
    def points(self) -> int:
        return sum(grant.points for grant in self.granted)

    @property
    def stamps(self) -> int:
        return sum(grant.stamps for grant in self.granted)


def birthday_programs(merchant_slug: str | None = None) -> QuerySet[LoyaltyProgram]:
    """Active programs of active merchants that give a birthday bonus they can credit."""
    kinds = LoyaltyProgram.Kind
    gives_points = Q(birthday_bonus_points__gt=0, kind__in=[kinds.POINTS, kinds.HYBRID])
    gives_stamps = Q(birthday_bonus_stamps__gt=0, kind__in=[kinds.STAMPS, kinds.HYBRID])
    programs = LoyaltyProgram.objects.filter(gives_points | gives_stamps, is_active=True, merchant__is_active=True)
    if merchant_slug:
        programs = programs.filter(merchant__slug=merchant_slug)
    return programs.select_related("merchant").order_by("pk")


def birthdays_today(today: datetime.date) -> Q:
    """Customers (seen from a card) whose birthday is ``today``."""
    condition = Q(customer__birth_date__month=today.month, customer__birth_date__day=today.day)
    if today.month == 2 and today.day == 28 and not calendar.isleap(today.year):
        # 28 February of a common year: the 29 February birthdays too.
        condition |= Q(customer__birth_date__month=2, customer__birth_date__day=29)
    return condition


def birthday_cards(program: LoyaltyProgram, today: datetime.date, now: datetime.datetime) -> QuerySet[LoyaltyCard]:
    """The program's cards due a birthday bonus today and not granted one this year."""
    settled = now - BIRTHDAY_WAIT
    granted = LoyaltyTransaction.objects.filter(card=OuterRef("pk"), type=Type.BIRTHDAY_BONUS, bonus_year=today.year)
    return (
        LoyaltyCard.objects.alive()
        .filter(birthdays_today(today), program=program, is_active=True, created_at__lte=settled)
        .filter(Q(customer__birth_date_changed_at__isnull=True) | Q(customer__birth_date_changed_at__lte=settled))
        .exclude(Exists(granted))
        .select_related("customer", "merchant", "program")
        .order_by("pk")
    )


def is_birthday_due(card: LoyaltyCard, today: datetime.date, now: datetime.datetime) -> bool:
    """The rule in Python, checked again on the locked card."""
    customer = card.customer
    program = card.program
    settled = now - BIRTHDAY_WAIT
    return (
        card.is_active
        and card.deleted_at is None
        and program.is_active
        and card.merchant.is_active
        and program.has_birthday_bonus
        and customer.birth_date is not None
        and birthday_in(customer.birth_date, today.year) == today
        and card.created_at <= settled
        and (customer.birth_date_changed_at is None or customer.birth_date_changed_at <= settled)
    )


def wants_birthday_email(card: LoyaltyCard) -> bool:
    customer = card.customer
    return bool(customer.marketing_opt_in and not customer.email_opt_out and customer.email)


def due_birthdays(
    *, merchant_slug: str | None = None, today: datetime.date | None = None, now: datetime.datetime | None = None
) -> Iterator[BirthdayGrant]:
    """What a run would grant now (the dry run): nothing is written."""
    now = now or timezone.now()
    today = today or timezone.localdate(now)
    for program in birthday_programs(merchant_slug):
        for card in birthday_cards(program, today, now).iterator(chunk_size=500):
            yield _grant_of(card, program)


def grant_birthday_rewards(
    *,
    merchant_slug: str | None = None,
    today: datetime.date | None = None,
    now: datetime.datetime | None = None,
    on_grant: Callable[[BirthdayGrant], None] | None = None,
) -> BirthdayReport:
    """Grant today's birthday bonuses (the daily job). Safe to run again, or twice at once."""
    now = now or timezone.now()
    today = today or timezone.localdate(now)
    report = BirthdayReport()
    for program in birthday_programs(merchant_slug):
        card_ids = list(birthday_cards(program, today, now).values_list("pk", flat=True))
        for card_id in card_ids:
            grant = grant_birthday_bonus(card_id=card_id, today=today, now=now)
            if grant is None:
                report.skipped += 1
                continue
            report.granted.append(grant)
            if on_grant:
                on_grant(grant)
    return report


def grant_birthday_bonus(*, card_id: int, today: datetime.date, now: datetime.datetime) -> BirthdayGrant | None:
    """Credit one card's birthday bonus for ``today.year``; None when it is not due (or already given)."""
    try:
        with transaction.atomic(durable=True):
            card = (
                LoyaltyCard.objects.select_for_update(of=("self",), no_key=True)
                .select_related("program", "merchant", "customer")
                .get(pk=card_id)
            )
            if not is_birthday_due(card, today, now):
                return None
            if LoyaltyTransaction.objects.filter(card=card, type=Type.BIRTHDAY_BONUS, bonus_year=today.year).exists():
                return None
            program = card.program
            points, stamps = program.birthday_points, program.birthday_stamps
            card.points_balance += points
            card.lifetime_points_earned += points
            card.stamp_count += stamps
            card.lifetime_stamps += stamps
            # Not customer activity: the points expiry date does not move.
            save_card(card, "points_balance", "lifetime_points_earned", "stamp_count", "lifetime_stamps")
            write_ledger(
                card,
                Type.BIRTHDAY_BONUS,
                points_delta=points,
                stamps_delta=stamps,
                bonus_year=today.year,
                reason=f"Birthday {today.year}",
                now=now,
            )
            schedule_pass_updates([card.pk])
            grant = _grant_of(card, program)
            if grant.email:
                _queue_birthday_email(card, points=points, stamps=stamps, year=today.year)
            return grant
    except IntegrityError as exc:
        # ledger_birthday_bonus_once_per_card_year: another run granted this card this very moment.
        if "birthday" not in str(exc) and "bonus_year" not in str(exc):
            raise
        logger.info("birthday bonus of card %s for %s already granted by another run", card_id, today.year)
        return None


def _grant_of(card: LoyaltyCard, program: LoyaltyProgram) -> BirthdayGrant:
    return BirthdayGrant(
        card_id=card.pk,
        card_number=card.card_number,
        merchant_slug=card.merchant.slug,
        customer_name=card.customer.full_name,
        points=program.birthday_points,
        stamps=program.birthday_stamps,
        email=wants_birthday_email(card),
    )


def bonus_in_words(points: int, stamps: int) -> str:
    """``50 points``, ``2 stamps`` or ``50 points and 2 stamps``, in the active language."""
    parts = []
    if points:
        parts.append(ngettext("%(count)d point", "%(count)d points", points) % {"count": points})
    if stamps:
        parts.append(ngettext("%(count)d stamp", "%(count)d stamps", stamps) % {"count": stamps})
    if len(parts) == 2:
        return gettext("%(points)s and %(stamps)s") % {"points": parts[0], "stamps": parts[1]}
    return parts[0] if parts else ""


def _queue_birthday_email(card: LoyaltyCard, *, points: int, stamps: int, year: int) -> None:
    from customers.emails import queue_customer_email

    customer = card.customer

    def subject() -> str:
        return gettext("Happy birthday, %(name)s!") % {"name": customer.first_name}

    queue_customer_email(
        card=card,
        template="birthday",
        kind="birthday",
        subject=subject,
        context={"points": points, "stamps": stamps, "bonus_words": lambda: bonus_in_words(points, stamps)},
        dedupe_key=f"birthday:{card.pk}:{year}",
    )
