"""Reads of the loyalty domain with a fixed number of queries."""

import datetime
import functools
import re
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import F, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.db.models.query import ModelIterable
from django.utils import timezone

from core.prepared import PreparedQuery
from customers.phones import DEFAULT_COUNTRY, to_e164
from loyalty.models import LoyaltyCard, LoyaltyProgram, LoyaltyTransaction, Reward
from merchants.selectors import scoped, staff_member_for


def _ledger_sum(field: str) -> Coalesce:
    total = (
        LoyaltyTransaction.objects.filter(card=OuterRef("pk"))
        .order_by()
        .values("card")
        .annotate(total=Sum(field))
        .values("total")
    )
    return Coalesce(Subquery(total, output_field=IntegerField()), Value(0))


def cards_out_of_balance() -> QuerySet[LoyaltyCard]:
    """Cards whose balances differ from the sum of their ledger deltas (should be none)."""
    return (
        LoyaltyCard.objects.annotate(
            ledger_points=_ledger_sum("points_delta"), ledger_stamps=_ledger_sum("stamps_delta")
        )
        .filter(~Q(points_balance=F("ledger_points")) | ~Q(stamp_count=F("ledger_stamps")))
        .order_by("pk")
    )


def is_birthday_week(birth_date: datetime.date | None, today: datetime.date) -> bool:
    """True when ``today`` is within three days either side of this year's birthday.

    A 29 February birthday falls on 28 February in other years. Birthdays near New Year
    are compared with last and next year's date too.
    """
    if birth_date is None:
        return False
    for year in (today.year - 1, today.year, today.year + 1):
        try:
            birthday = birth_date.replace(year=year)
        except ValueError:  # 29 February in a common year
            birthday = datetime.date(year, 2, 28)
        if abs((today - birthday).days) <= 3:
            return True
    return False


# --- staff point of sale --------------------------------------------------------------------

RECENT_TRANSACTIONS = 10
MAX_LOOKUP_MATCHES = 10
_CARD_URL = re.compile(r"/card/(?P<token>[A-Za-z0-9_-]+)/?(?:[?#].*)?$")
_PHONE_NOISE = re.compile(r"[\s.()/-]")
_PHONE = re.compile(r"^\+?\d{6,15}$")
_QR_TOKEN = re.compile(r"[A-Za-z0-9_-]{32}")  # generate_qr_code_data: token_urlsafe(24)


def normalize_card_number(value: str) -> str | None:
    """``123456789012``, ``1234 5678 9012`` or ``1234-5678-9012`` -> ``1234-5678-9012``; else None."""
    compact = re.sub(r"[\s-]", "", value or "")
    if not re.fullmatch(r"\d{12}", compact):
        return None
    return f"{compact[0:4]}-{compact[4:8]}-{compact[8:12]}"


def pos_cards(user: AbstractBaseUser | None) -> QuerySet[LoyaltyCard]:
    """The cards a staff user may act on: their merchant's, not deleted, with what every view shows."""
    return scoped(LoyaltyCard, user).alive().select_related("customer", "program", "tier")


def card_by_number(user: AbstractBaseUser | None, card_number: str) -> LoyaltyCard | None:
    """One query. A card of another merchant is ``None``, exactly like an unknown one."""
    normalized = normalize_card_number(card_number)
    if normalized is None:
        return None
    return pos_cards(user).filter(card_number=normalized).first()


@dataclass(frozen=True)
class Lookup:
    """What a cashier scanned or an owner typed, read once: the kind of value and the value to match.

    ``kind`` is ``card_number`` (``1234-5678-9012``), ``qr`` (a card page URL's token, or a term
    shaped like a QR token), ``email`` (lower-cased), ``phone`` (E.164) or ``text``: anything else,
    which the till tries as QR data and the admin as the start of a name.
    """

    kind: str
    value: str


def read_lookup(q: str, country: str = DEFAULT_COUNTRY) -> Lookup | None:
    """``q`` classified for an exact, indexed match; national phone numbers are read in ``country``."""
    q = (q or "").strip()
    if not q:
        return None
    number = normalize_card_number(q)
    if number is not None:
        return Lookup("card_number", number)
    if url := _CARD_URL.search(q):
        return Lookup("qr", url.group("token"))
    if "@" in q:
        return Lookup("email", q.lower())
    # A QR token (32 URL-safe characters) never looks like a phone: this is the phone alone.
    if _PHONE.match(_PHONE_NOISE.sub("", q)) and (phone := to_e164(q, country)):
        return Lookup("phone", phone)
    if _QR_TOKEN.fullmatch(q):
        return Lookup("qr", q)
    return Lookup("text", q)


def merchant_country(user: AbstractBaseUser | None) -> str:
    """The country national phone numbers are read in: the user's merchant's (the operator: the default)."""
    member = staff_member_for(user)
    return member.merchant.country if member is not None else DEFAULT_COUNTRY


def find_cards(user: AbstractBaseUser | None, q: str) -> list[LoyaltyCard]:
    """Cards matching what the cashier scanned or typed, in one query.

    ``q`` is the QR code data (or the card page URL a QR may carry), a card number with or
    without dashes, an email (any case: emails are stored lower-cased) or a phone number as
    people say it (``06 12 34 56 78`` or ``+33 6 12 34 56 78``), read with the merchant's country
    and matched exactly against the E.164 phones customers are stored with. Each is an index
    lookup. A phone several customers share gives several cards.
    """
    lookup = read_lookup(q, merchant_country(user))
    if lookup is None:
        return []
    cards = pos_cards(user)
    member = staff_member_for(user)
    if lookup.kind == "card_number":
        cards = cards.filter(card_number=lookup.value)
    elif lookup.kind in ("email", "phone"):
        # Naming the merchant on the customer too lets the (merchant, email) and (merchant, phone)
        # indexes answer; the operator (no merchant) searches every merchant.
        if member is not None:
            cards = cards.filter(customer__merchant_id=member.merchant_id)
        cards = cards.filter(**{f"customer__{lookup.kind}": lookup.value})
    else:  # a QR token, or whatever a scanner typed
        cards = cards.filter(qr_code_data=lookup.value)
    return list(cards.order_by("card_number")[:MAX_LOOKUP_MATCHES])


def active_rewards(program: LoyaltyProgram) -> list[Reward]:
    """The program's active rewards, points and stamps ones.

    Kept in this process under the program's ``updated_at``, which every change of a reward
    moves (Reward.save and delete, services.programs): the till reads them on every answer,
    the owner changes them a few times a year.
    """
    return list(_active_rewards(program.pk, program.updated_at))


@functools.lru_cache(maxsize=1024)
def _active_rewards(program_id: int, updated_at: datetime.datetime) -> tuple[Reward, ...]:
    return tuple(Reward.objects.filter(program_id=program_id, is_active=True).order_by("name", "pk"))


@dataclass(frozen=True)
class StampReward:
    """A rung of the stamp ladder: the program's own stamp reward (``reward`` None) or a stamps reward."""

    program: LoyaltyProgram
    reward: Reward | None
    stamps_cost: int
    available: bool

    @property
    def id(self) -> int | None:
        return self.reward.pk if self.reward else None

    @property
    def name(self) -> str:
        return self.reward.name if self.reward else self.program.stamp_reward_description

    @property
    def localized_name(self) -> str:
        return self.reward.localized_name if self.reward else self.program.localized_stamp_reward

    @property
    def description(self) -> str:
        return self.reward.description if self.reward else ""


def stamp_ladder(card: LoyaltyCard) -> list[StampReward]:
    """The rewards the card's stamps buy, cheapest first: the program's at ``stamps_target``, then the
    active stamps rewards of the catalogue. Empty when the program collects no stamps."""
    program = card.program
    if not program.uses_stamps:
        return []
    rungs = [StampReward(program, None, program.stamps_target, card.stamp_count >= program.stamps_target)]
    for reward in active_rewards(program):
        if reward.stamps_cost is not None:
            rungs.append(StampReward(program, reward, reward.stamps_cost, card.stamp_count >= reward.stamps_cost))
    return sorted(rungs, key=lambda rung: (rung.stamps_cost, rung.reward is not None, rung.name))


def next_stamp_reward(card: LoyaltyCard) -> StampReward | None:
    """The next rung the card's stamps will reach (None when every rung is reached already)."""
    return next((rung for rung in stamp_ladder(card) if not rung.available), None)


@dataclass(frozen=True)
class CardDetail:
    """What the POS shows about a card: built with a fixed number of queries."""

    card: LoyaltyCard
    birthday_week: bool
    rewards_affordable: list[Reward]
    recent_transactions: list[LoyaltyTransaction]
    stamp_rewards: list[StampReward]

    @property
    def tier(self):
        return self.card.tier

    @property
    def customer(self):
        return self.card.customer

    @property
    def program(self) -> LoyaltyProgram:
        return self.card.program


class LedgerPages(QuerySet):
    """A ledger queryset whose later pages pick their rows' ids first, from the index alone.

    ``rows[9980:10000]`` would have PostgreSQL read, join and annotate 10,000 rows to skip 9,980 of
    them (OFFSET). Here the slice's ids are chosen by a subquery that reads only the (card,
    created_at, id) index, in the same order, and the outer query reads, joins and annotates the
    page's rows alone: ``… WHERE id IN (SELECT id … ORDER BY … LIMIT 20 OFFSET 9980) ORDER BY …``.
    Same rows, same order, one query. The first page (no offset) is read as before.
    """

    def __getitem__(self, k):
        if (
            isinstance(k, slice)
            and isinstance(k.start, int)
            and k.start > 0
            and k.step is None
            and self._result_cache is None
            and not self.query.is_sliced
            and self._iterable_class is ModelIterable
        ):
            return self.filter(pk__in=self.values("pk")[k])
        return super().__getitem__(k)


def transactions_for_display(card: LoyaltyCard | int) -> QuerySet[LoyaltyTransaction]:
    """A card's ledger (the card or its id), newest first, with what a row shows (store, staff, reward, voided points).

    A slice past the first rows (a later page) reads the page's rows alone (``LedgerPages``).
    """
    voided = (
        LoyaltyTransaction.objects.filter(related_transaction=OuterRef("pk"), type=LoyaltyTransaction.Type.POINTS_VOID)
        .order_by()
        .values("related_transaction")
        .annotate(total=Sum("points_delta"))
        .values("total")
    )
    return (
        LedgerPages(LoyaltyTransaction)
        .filter(card=card)
        .select_related("store", "staff_user", "approved_by", "reward", "promotion")
        .annotate(points_voided=-Coalesce(Subquery(voided, output_field=IntegerField()), Value(0)))
        .order_by("-created_at", "-id")
    )


# Every POS answer shows them: compiled once per process (core/prepared.py).
_RECENT_TRANSACTIONS = PreparedQuery(
    lambda card_id: transactions_for_display(card_id)[:RECENT_TRANSACTIONS], card_id=int
)


def card_detail(card: LoyaltyCard, *, today: datetime.date | None = None) -> CardDetail:
    """Two queries on top of the card (loaded with customer, program and tier by ``pos_cards``):
    the program's active rewards (points and stamps ones together) and the recent transactions."""
    today = today or timezone.localdate()
    program = card.program
    affordable = []
    if program.uses_points:  # a stamps-only program has no points to spend
        affordable = sorted(
            (r for r in active_rewards(program) if r.points_cost is not None and r.points_cost <= card.points_balance),
            key=lambda reward: (reward.points_cost, reward.name),
        )
    return CardDetail(
        card=card,
        birthday_week=is_birthday_week(card.customer.birth_date, today),
        rewards_affordable=affordable,
        recent_transactions=_RECENT_TRANSACTIONS(card_id=card.pk),
        stamp_rewards=stamp_ladder(card),
    )


# --- customer engagement: birthdays and expiry dates ------------------------------------------


def birthday_in(birth_date: datetime.date, year: int) -> datetime.date:
    """The day ``year`` celebrates ``birth_date``: 29 February is 28 February in a common year."""
    try:
        return birth_date.replace(year=year)
    except ValueError:
        return datetime.date(year, 2, 28)


@dataclass(frozen=True)
class PointsExpiry:
    """When a card's points expire (the nightly job takes them from that day on) and how many."""

    points: int
    expires_on: datetime.date
    reminder_from: datetime.date | None  # the day the reminder is due; None: the program sends none

    def is_near(self, today: datetime.date) -> bool:
        return self.reminder_from is not None and self.reminder_from <= today <= self.expires_on


def points_expiry(card: LoyaltyCard) -> PointsExpiry | None:
    """The card's next points expiry, or None (no points, no expiration, a deleted card).

    The date is the day (in ``TIME_ZONE``) the card's inactivity reaches the program's
    ``points_expiry_days``: ``last_activity_at`` + N days. Activity moves it.
    """
    program = card.program
    if not (program.uses_points and program.points_expiry_days and card.points_balance > 0 and card.deleted_at is None):
        return None
    # A shortened expiry applies to activity after the change: the clock starts at the change at the earliest.
    start = max(card.last_activity_at, program.points_expiry_changed_at or card.last_activity_at)
    expires_at = start + datetime.timedelta(days=program.points_expiry_days)
    expires_on = timezone.localdate(expires_at)
    reminder_from = None
    if program.expiry_reminder_days:
        reminder_from = expires_on - datetime.timedelta(days=program.expiry_reminder_days)
    return PointsExpiry(points=card.points_balance, expires_on=expires_on, reminder_from=reminder_from)


def cheapest_reward(program: LoyaltyProgram) -> Reward | None:
    """The cheapest active points reward (shares ``active_rewards``' one query)."""
    if not program.uses_points:
        return None
    points_rewards = [reward for reward in active_rewards(program) if reward.points_cost is not None]
    return min(points_rewards, key=lambda reward: (reward.points_cost, reward.name), default=None)
