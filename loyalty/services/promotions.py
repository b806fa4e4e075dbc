"""Promotions: which one an earn or a stamp gets, and saving them (at most 10 active per program).

A promotion applies at ``now`` when it is active, ``starts_at <= now < ends_at``, today's ISO
weekday (in ``TIME_ZONE``) is one of its weekdays (none = every day), the wall-clock time is in
``[start_time, end_time)`` (none = all day), and the store is one of its stores (none = all).
Of those that change the operation (a multiplier above 1 for an earn, bonus stamps for a stamp),
the best has the highest multiplier, then the most bonus stamps, then the oldest id.

The program's promotions are read once per change and kept in memory (``best_promotion``): an
earn or a stamp pays no query for them.
"""

import datetime
import functools
from typing import Literal

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from core.errors import conflict, invalid
from loyalty.models import LoyaltyProgram, Promotion
from merchants.models import Store

MAX_ACTIVE_PROMOTIONS = 10

Operation = Literal["earn", "stamp"]


def best_promotion(
    *, program: LoyaltyProgram, store: Store | None, operation: Operation, now: datetime.datetime | None = None
) -> Promotion | None:
    """The promotion an earn or a stamp at ``store`` gets at ``now``, or None.

    Chosen among the program's live promotions kept in this process (no query once they are
    read; see ``_live_promotions``): the till asks on every stamp and earn.
    """
    now = now or timezone.now()
    local = timezone.localtime(now)
    weekday, clock = str(local.isoweekday()), local.time().replace(tzinfo=None)
    store_id = store.pk if store is not None else None

    def runs(promotion: Promotion, store_ids: frozenset[int]) -> bool:
        return (
            promotion.starts_at <= now < promotion.ends_at
            and (not promotion.weekdays or weekday in promotion.weekdays)
            and (promotion.start_time is None or promotion.start_time <= clock < promotion.end_time)
            and (not store_ids or store_id in store_ids)
        )

    def gives(promotion: Promotion) -> bool:
        return promotion.points_multiplier > 1 if operation == "earn" else promotion.bonus_stamps > 0

    running = [
        p for p, store_ids in _live_promotions(program.pk, program.updated_at) if runs(p, store_ids) and gives(p)
    ]
    return min(running, key=lambda p: (-p.points_multiplier, -p.bonus_stamps, p.pk), default=None)


@functools.lru_cache(maxsize=1024)
def _live_promotions(program_id: int, updated_at: datetime.datetime) -> tuple[tuple[Promotion, frozenset[int]], ...]:
    """The program's switched-on promotions, each with its stores (none = all).

    Kept under the program's ``updated_at``, which every change of a promotion moves
    (loyalty/models.py, ``ProgramPart``); the instances are shared, so read-only. Ended ones
    are kept too: an operation dated in the past (a test, the demo seed) may fall in them.
    """
    promotions = Promotion.objects.filter(program_id=program_id, is_active=True)
    return tuple(
        (promotion, frozenset(store.pk for store in promotion.stores.all()))
        for promotion in promotions.prefetch_related("stores").order_by("pk")
    )


def active_promotions(program_id: int, now: datetime.datetime | None = None) -> QuerySet[Promotion]:
    """The promotions that count towards the limit: switched on and not over yet."""
    return Promotion.objects.filter(program_id=program_id, is_active=True, ends_at__gt=now or timezone.now())


def save_promotion(*, promotion: Promotion, stores: list[Store] | None = None) -> Promotion:
    """Create or edit a promotion; ``stores`` (when given) replaces its stores.

    The limit of 10 active promotions per program holds whatever saves at the same time: the
    program row is locked (``SELECT ... FOR UPDATE``) before counting, so two saves of one
    program run one after the other and the second counts the first. A database trigger would
    enforce it even against raw SQL; every write goes through here, so the locked count is enough.
    """
    now = timezone.now()
    if stores is not None:
        foreign = [store for store in stores if store.merchant_id != promotion.program.merchant_id]
        if foreign:
            raise invalid("unknown_store", "A promotion only runs at stores of its program's merchant.")
    with transaction.atomic():
        LoyaltyProgram.objects.select_for_update().filter(pk=promotion.program_id).first()
        if promotion.is_active and promotion.ends_at > now:
            others = active_promotions(promotion.program_id, now).exclude(pk=promotion.pk).count()
            if others >= MAX_ACTIVE_PROMOTIONS:
                raise conflict(
                    "too_many_promotions",
                    f"This program already runs {others} active promotions, the maximum: switch one off "
                    "or let it end first.",
                    limit=MAX_ACTIVE_PROMOTIONS,
                )
        promotion.save()
        if stores is not None:
            promotion.stores.set(stores)
    return promotion


def _overlap(a_start, a_end, b_start, b_end) -> bool:
    return a_start < b_end and b_start < a_end


def overlapping_promotions(promotion: Promotion, stores: list[Store] | None = None) -> list[Promotion]:
    """Other active promotions of the program that can run at the same moment at the same store.

    Only the best of them applies to an operation; the admin warns about them.
    """
    if not promotion.is_active:
        return []
    store_ids = {store.pk for store in (stores if stores is not None else promotion.stores.all())}
    days = set(promotion.weekdays) or set("1234567")
    found = []
    others = active_promotions(promotion.program_id).exclude(pk=promotion.pk).prefetch_related("stores")
    for other in others.order_by("starts_at", "pk"):
        if not _overlap(promotion.starts_at, promotion.ends_at, other.starts_at, other.ends_at):
            continue
        if not days & (set(other.weekdays) or set("1234567")):
            continue
        if promotion.start_time is not None and other.start_time is not None:
            if not _overlap(promotion.start_time, promotion.end_time, other.start_time, other.end_time):
                continue
        other_stores = {store.pk for store in other.stores.all()}
        if store_ids and other_stores and not store_ids & other_stores:
            continue
        found.append(other)
    return found
