"""Points: earn from a purchase, redeem a reward or an amount, void on a return."""

import datetime
import math
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import conflict, invalid
from loyalty.models import LoyaltyCard, LoyaltyProgram, LoyaltyTransaction, Reward
from loyalty.services.approvals import approval_for
from loyalty.services.ledger import (
    LedgerResult,
    Type,
    applies_once,
    clean_amount,
    clean_points,
    lock_card,
    record,
    require_participation,
    require_points,
    save_card,
)
from loyalty.services.promotions import best_promotion
from loyalty.services.tiers import has_tiers, upgrade_after_earn
from merchants.models import StaffMember, Store

ONE = Decimal("1")


def points_for_purchase(
    program: LoyaltyProgram,
    purchase_amount: Decimal,
    tier_multiplier: Decimal = ONE,
    promotion_multiplier: Decimal = ONE,
) -> int:
    """floor(amount x points_per_euro x tier multiplier x promotion multiplier), in exact decimals."""
    return math.floor(purchase_amount * program.points_per_euro * tier_multiplier * promotion_multiplier)


@applies_once(Type.POINTS_EARN)
def earn_points(
    *,
    card: LoyaltyCard,
    purchase_amount: Decimal,
    store: Store | None,
    staff_user: AbstractBaseUser | None,
    order_reference: str = "",
    idempotency_key: str = "",
    now: datetime.datetime | None = None,
) -> LedgerResult:
    now = now or timezone.now()
    purchase_amount = clean_amount(purchase_amount)
    order_reference = (order_reference or "").strip()
    with transaction.atomic():
        card, replay = lock_card(card, idempotency_key, Type.POINTS_EARN, store)
        if replay:
            return replay
        program = card.program
        require_points(program)
        require_participation(store, "earn")
        if purchase_amount < program.min_purchase:
            raise conflict(
                "below_min_purchase",
                _("Purchases below €%(min)s do not earn points.") % {"min": program.min_purchase},
                min_purchase=str(program.min_purchase),
            )
        # An order earning twice is refused by the ledger's unique index (record: duplicate_order).
        # The tier the card has before this earn, and the best promotion running now at this store.
        promotion = best_promotion(program=program, store=store, operation="earn", now=now)
        tier_multiplier = card.tier.points_multiplier if card.tier else ONE
        promotion_multiplier = promotion.points_multiplier if promotion else ONE
        base = points_for_purchase(program, purchase_amount)
        points = points_for_purchase(program, purchase_amount, tier_multiplier, promotion_multiplier)
        card.points_balance += points
        card.lifetime_points_earned += points
        card.last_points_at = now
        card.last_activity_at = now
        result = record(
            card,
            Type.POINTS_EARN,
            saving=("points_balance", "lifetime_points_earned", "last_points_at", "last_activity_at"),
            points_delta=points,
            base_points=base,
            points_multiplier=tier_multiplier * promotion_multiplier,
            promotion_id=promotion.id if promotion else None,
            store=store,
            staff_user=staff_user,
            idempotency_key=idempotency_key,
            purchase_amount=purchase_amount,
            order_reference=order_reference,
            now=now,
        )
        # Crossing a threshold moves the card up at once (its pass update is already scheduled).
        if has_tiers(program) and upgrade_after_earn(card, now) is not None:
            save_card(card, "tier", "tier_changed_at")
        return result


@applies_once(Type.POINTS_REDEEM)
def redeem_points(
    *,
    card: LoyaltyCard,
    store: Store | None,
    staff_user: AbstractBaseUser | None,
    reward: Reward | None = None,
    points: int | None = None,
    approver: StaffMember | None = None,
    idempotency_key: str = "",
    now: datetime.datetime | None = None,
) -> LedgerResult:
    now = now or timezone.now()
    if (reward is None) == (points is None):
        raise invalid("invalid_input", _("Redeem either a reward or an amount of points."))
    if points is not None:
        points = clean_points(points)
    with transaction.atomic():
        card, replay = lock_card(card, idempotency_key, Type.POINTS_REDEEM, store)
        if replay:
            return replay
        program = card.program
        require_points(program)
        require_participation(store, "redeem")
        if reward is not None:
            if reward.program_id != program.pk or not reward.is_active:
                raise invalid("unknown_reward", _("That reward is not in this card's catalogue."))
            if reward.points_cost is None:
                raise conflict(
                    "wrong_reward_kind",
                    f"{reward.name} is a stamp reward: use Redeem stamp reward, not points.",
                    reward_id=reward.pk,
                    stamps_cost=reward.stamps_cost,
                )
            points = reward.points_cost
        if card.points_balance < points:
            raise conflict(
                "insufficient_points",
                _("The card has %(balance)s points; this needs %(points)s.")
                % {"balance": card.points_balance, "points": points},
                points_balance=card.points_balance,
                points_required=points,
            )
        approved_by = approval_for(program=program, points=points, staff_user=staff_user, approver=approver)
        card.points_balance -= points
        card.lifetime_points_redeemed += points
        card.last_redemption_at = now
        card.last_activity_at = now
        return record(
            card,
            Type.POINTS_REDEEM,
            saving=("points_balance", "lifetime_points_redeemed", "last_redemption_at", "last_activity_at"),
            points_delta=-points,
            store=store,
            staff_user=staff_user,
            idempotency_key=idempotency_key,
            reward=reward,
            reason=reward.name if reward else "",
            approved_by=approved_by,
            now=now,
        )


@applies_once(Type.POINTS_VOID)
def void_points(
    *,
    card: LoyaltyCard,
    store: Store | None,
    staff_user: AbstractBaseUser | None,
    earn_transaction_id: int | None = None,
    points: int | None = None,
    reason: str = "",
    approver: StaffMember | None = None,
    idempotency_key: str = "",
    now: datetime.datetime | None = None,
) -> LedgerResult:
    """Take back points on a return, against an earn transaction or as an amount.

    An earn is voided once, taking back its points but never more than the balance (the
    customer may have spent some already). An amount above the balance is refused.
    """
    now = now or timezone.now()
    reason = (reason or "").strip()
    if (earn_transaction_id is None) == (points is None):
        raise invalid("invalid_input", _("Void either an earn transaction or an amount of points."))
    if points is not None:
        points = clean_points(points)
        if not reason:
            raise invalid("reason_required", _("Say why these points are voided."))
    with transaction.atomic():
        card, replay = lock_card(card, idempotency_key, Type.POINTS_VOID, store)
        if replay:
            return replay
        earn = None
        if earn_transaction_id is not None:
            earn = LoyaltyTransaction.objects.filter(pk=earn_transaction_id, card=card, type=Type.POINTS_EARN).first()
            if earn is None:
                raise invalid("unknown_transaction", _("That earn transaction is not on this card."))
            if earn.reversals.filter(type=Type.POINTS_VOID).exists():
                raise conflict("already_voided", _("The points of that purchase were already voided."))
            if card.points_balance == 0:
                raise conflict(
                    "insufficient_points",
                    _("The card has no points left to take back."),
                    points_balance=0,
                    points_required=earn.points_delta,
                )
            points = min(earn.points_delta, card.points_balance)
            if not reason:
                reason = f"Return of order {earn.order_reference}" if earn.order_reference else "Return"
        elif card.points_balance < points:
            raise conflict(
                "insufficient_points",
                _("The card has %(balance)s points; cannot void %(points)s.")
                % {"balance": card.points_balance, "points": points},
                points_balance=card.points_balance,
                points_required=points,
            )
        approved_by = approval_for(program=card.program, points=points, staff_user=staff_user, approver=approver)
        card.points_balance -= points
        card.lifetime_points_voided += points
        return record(
            card,
            Type.POINTS_VOID,
            saving=("points_balance", "lifetime_points_voided"),
            points_delta=-points,
            store=store,
            staff_user=staff_user,
            idempotency_key=idempotency_key,
            related_transaction=earn,
            reason=reason,
            approved_by=approved_by,
            now=now,
        )
