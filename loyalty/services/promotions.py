"""Promotions: which one an earn or a stamp gets, and saving them (at most 10 active per program).

A promotion applies at ``now`` when it is active, ``starts_at <= now < ends_at``, today's ISO
weekday (in ``TIME_ZONE``) is one of its weekdays (none = every day), the wall-clock time is in
``[start_time, end_time)`` (none = all day), and the store is one of its stores (none = all).
Of those that change the operation (a multiplier above 1 for an earn, bonus stamps for a stamp),
the best has the highest multiplier, then the most bonus stamps, then the oldest id.

The lookup is a subquery of the card's lock query (``promotion_annotations``): an earn or a stamp
pays no extra round trip for it.
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from core.errors import conflict, invalid
from loyalty.models import LoyaltyProgram, Promotion
from merchants.models import Store

MAX_ACTIVE_PROMOTIONS = 10

Operation = Literal["earn", "stamp"]


@dataclass(frozen=True)
class AppliedPromotion:
    """What the lock query found: the promotion's id and what it gives."""

    id: int
    points_multiplier: Decimal
    bonus_stamps: int


def running_at(queryset: QuerySet[Promotion], *, store_id: int | None, now: datetime.datetime) -> QuerySet[Promotion]:
    """The promotions of ``queryset`` that run at ``now`` at that store (days and hours in ``TIME_ZONE``)."""
    local = timezone.localtime(now)
    clock = local.time().replace(tzinfo=None)
    through = Promotion.stores.through
    at_store = ~Exists(through.objects.filter(promotion_id=OuterRef("pk")))
    if store_id is not None:
        at_store |= Exists(through.objects.filter(promotion_id=OuterRef("pk"), store_id=store_id))
    return queryset.filter(
        Q(weekdays="") | Q(weekdays__contains=str(local.isoweekday())),
        Q(start_time__isnull=True) | Q(start_time__lte=clock, end_time__gt=clock),
        at_store,
        is_active=True,
        starts_at__lte=now,
        ends_at__gt=now,
    )


def best_first(queryset: QuerySet[Promotion], operation: Operation) -> QuerySet[Promotion]:
    if operation == "earn":
        queryset = queryset.filter(points_multiplier__gt=1)
    else:
        queryset = queryset.filter(bonus_stamps__gt=0)
    return queryset.order_by("-points_multiplier", "-bonus_stamps", "pk")


def promotion_annotations(*, operation: Operation, store: Store | None, now: datetime.datetime) -> dict:
    """Annotations for the card's lock query: the best promotion's id, multiplier and bonus stamps."""
    best = best_first(
        running_at(
            Promotion.objects.filter(program_id=OuterRef("program_id")),
            store_id=store.pk if store is not None else None,
            now=now,
        ),
        operation,
    )
    return {
        "promotion_id_": Subquery(best.values("pk")[:1]),
        "promotion_multiplier_": Subquery(best.values("points_multiplier")[:1]),
        "promotion_bonus_": Subquery(best.values("bonus_stamps")[:1]),
    }


def applied_promotion(card) -> AppliedPromotion | None:
    """The promotion the lock query found for this operation (see ``promotion_annotations``)."""
    promotion_id = getattr(card, "promotion_id_", None)
    if promotion_id is None:
        return None
    return AppliedPromotion(
        id=promotion_id,
        points_multiplier=Decimal(str(card.promotion_multiplier_)),
        bonus_stamps=int(card.promotion_bonus_),
    )


def best_promotion(
    *, program: LoyaltyProgram, store: Store | None, operation: Operation, now: datetime.datetime | None = None
) -> Promotion | None:
    """The promotion an earn or a stamp at ``store`` gets at ``now`` (one query; for pages and tests)."""
    now = now or timezone.now()
    queryset = running_at(
        Promotion.objects.filter(program=program), store_id=store.pk if store is not None else None, now=now
    )
    return best_first(queryset, operation).first()


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
