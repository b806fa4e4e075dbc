"""Tiers: a card's level from the points it earned in the last 365 days.

"Points earned" are the points of ``points_earn`` rows minus those of ``points_void`` rows, dated
within the last 365 days (bonuses, imports and adjustments do not count). It is a sum over the
card's own ledger rows of one year, read through the ``(card, created_at)`` index: no scan of
other cards' rows, and no counter that could drift.

A card's tier is the highest whose ``min_points_12m`` it meets. It goes up at once, in the
transaction of the earn that crosses a threshold (the earn itself is counted with the tier the
card had), and down only at the nightly review (``review_tiers``), which puts every card in the
tier its last 365 days give it, up or down. Both schedule a wallet pass update.
"""

import datetime
import functools
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import IntegerField, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from loyalty.models import LoyaltyCard, LoyaltyProgram, LoyaltyTransaction, Tier
from wallet.outbox import schedule_pass_updates

WINDOW = datetime.timedelta(days=365)
QUALIFYING_TYPES = (LoyaltyTransaction.Type.POINTS_EARN, LoyaltyTransaction.Type.POINTS_VOID)


def qualifying_rows(now: datetime.datetime) -> Q:
    return Q(type__in=QUALIFYING_TYPES, created_at__gt=now - WINDOW, created_at__lte=now)


def points_earned_12m(card: LoyaltyCard, now: datetime.datetime | None = None) -> int:
    """Points the card earned in the 365 days up to ``now`` (one indexed query)."""
    now = now or timezone.now()
    total = LoyaltyTransaction.objects.filter(qualifying_rows(now), card_id=card.pk).aggregate(
        total=Sum("points_delta")
    )
    return max(total["total"] or 0, 0)


def has_tiers(program: LoyaltyProgram) -> bool:
    """Whether the program has tiers; kept in this process under its ``updated_at`` (``ProgramPart``)."""
    return _has_tiers(program.pk, program.updated_at)


@functools.lru_cache(maxsize=1024)
def _has_tiers(program_id: int, updated_at: datetime.datetime) -> bool:
    return Tier.objects.filter(program_id=program_id).exists()


def tier_for(tiers: list[Tier], points: int) -> Tier | None:
    """The highest of ``tiers`` whose threshold ``points`` meets."""
    reached = [tier for tier in tiers if tier.min_points_12m <= points]
    return max(reached, key=lambda tier: tier.min_points_12m, default=None)


def upgrade_after_earn(card: LoyaltyCard, now: datetime.datetime) -> Tier | None:
    """Move a locked card up to the tier its points now reach; the new tier, or None.

    One query: the highest tier above the card's whose threshold the card's 12-month sum (this
    earn's row included) meets. Never moves a card down.
    """
    earned = (
        LoyaltyTransaction.objects.filter(qualifying_rows(now), card_id=card.pk)
        .order_by()
        .values("card_id")
        .annotate(total=Sum("points_delta"))
        .values("total")
    )
    candidates = Tier.objects.filter(program_id=card.program_id).filter(
        min_points_12m__lte=Coalesce(Subquery(earned, output_field=IntegerField()), Value(0))
    )
    if card.tier is not None:
        candidates = candidates.filter(min_points_12m__gt=card.tier.min_points_12m)
    tier = candidates.order_by("-min_points_12m").first()
    if tier is None:
        return None
    card.tier = tier
    card.tier_changed_at = now
    return tier


# --- the nightly review ------------------------------------------------------------------------


@dataclass
class TierChange:
    card_id: int
    card_number: str
    points_12m: int
    old: str | None
    new: str | None
    up: bool


@dataclass
class TierReport:
    cards: int = 0
    up: int = 0
    down: int = 0
    changes: list[TierChange] = field(default_factory=list)


def tier_programs(merchant_slug: str | None = None):
    programs = LoyaltyProgram.objects.filter(tiers__isnull=False).distinct().select_related("merchant")
    if merchant_slug:
        programs = programs.filter(merchant__slug=merchant_slug)
    return programs.order_by("pk")


def review_tiers(
    *,
    merchant_slug: str | None = None,
    now: datetime.datetime | None = None,
    dry_run: bool = False,
    batch_size: int | None = None,
    on_change: Callable[[TierChange], None] | None = None,
) -> TierReport:
    """Put every live card of a program with tiers in the tier its last 365 days give it.

    Batches of cards, each its own transaction that locks its cards and skips those a cashier
    holds right now (an earn may be upgrading them; they are reviewed the next night). Running it
    twice changes nothing the second time. ``dry_run`` computes and reports, and writes nothing.
    """
    now = now or timezone.now()
    batch_size = batch_size or settings.LOYALTY_EXPIRY_BATCH_SIZE
    report = TierReport()
    for program in tier_programs(merchant_slug):
        tiers = list(program.tiers.order_by("min_points_12m"))
        names = {tier.pk: tier.name for tier in tiers}
        after = 0
        while True:
            with transaction.atomic():
                cards = LoyaltyCard.objects.filter(program=program, deleted_at__isnull=True, pk__gt=after).order_by(
                    "pk"
                )
                if not dry_run:
                    cards = cards.select_for_update(skip_locked=True, no_key=True)
                rows = list(cards.values_list("pk", "card_number", "tier_id")[:batch_size])
                if not rows:
                    break
                after = rows[-1][0]
                ids = [pk for pk, _, _ in rows]
                sums = dict(
                    LoyaltyTransaction.objects.filter(qualifying_rows(now), card_id__in=ids)
                    .order_by()
                    .values("card_id")
                    .annotate(total=Sum("points_delta"))
                    .values_list("card_id", "total")
                )
                moves: dict[int | None, list[int]] = {}
                for pk, number, tier_id in rows:
                    points = max(sums.get(pk) or 0, 0)
                    tier = tier_for(tiers, points)
                    new_id = tier.pk if tier else None
                    report.cards += 1
                    if new_id == tier_id:
                        continue
                    old_min = next((t.min_points_12m for t in tiers if t.pk == tier_id), -1)
                    up = (tier.min_points_12m if tier else -1) > old_min
                    change = TierChange(pk, number, points, names.get(tier_id), names.get(new_id), up)
                    report.changes.append(change)
                    report.up += up
                    report.down += not up
                    moves.setdefault(new_id, []).append(pk)
                    if on_change:
                        on_change(change)
                if not dry_run and moves:
                    for new_id, card_ids in moves.items():
                        LoyaltyCard.objects.filter(pk__in=card_ids).update(
                            tier_id=new_id, tier_changed_at=now, updated_at=timezone.now()
                        )
                    schedule_pass_updates([pk for card_ids in moves.values() for pk in card_ids])
    return report
