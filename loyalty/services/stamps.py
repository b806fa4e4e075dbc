"""Stamps: add one (cooldown, daily cap, a promotion's bonus stamps) and redeem a reward of the ladder."""

import datetime
import math

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import LoyaltyError, conflict, invalid
from loyalty.models import LoyaltyCard, LoyaltyTransaction, Reward
from loyalty.services.approvals import approval_for
from loyalty.services.ledger import (
    LedgerResult,
    Type,
    applies_once,
    human_wait,
    lock_card,
    record,
    require_participation,
    require_stamps,
)
from loyalty.services.promotions import best_promotion
from merchants.models import StaffMember, Store


@applies_once(Type.STAMP)
def add_stamp(
    *,
    card: LoyaltyCard,
    store: Store | None,
    staff_user: AbstractBaseUser | None,
    idempotency_key: str = "",
    now: datetime.datetime | None = None,
) -> LedgerResult:
    now = now or timezone.now()
    with transaction.atomic():
        card, replay = lock_card(card, idempotency_key, Type.STAMP, store)
        if replay:
            return replay
        program = card.program
        require_stamps(program)
        require_participation(store, "earn")
        if program.stamp_cooldown_minutes and card.last_stamp_at:
            ready_at = card.last_stamp_at + datetime.timedelta(minutes=program.stamp_cooldown_minutes)
            if now < ready_at:
                wait = math.ceil((ready_at - now).total_seconds())
                raise conflict(
                    "cooldown_active",
                    _("This card was stamped moments ago; the next stamp is possible in %(wait)s.")
                    % {"wait": human_wait(wait)},
                    retry_after_seconds=wait,
                )
        if program.max_stamps_per_day is not None:
            day_start = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
            stamped_today = card.transactions.filter(type=Type.STAMP, created_at__gte=day_start).count()
            if stamped_today >= program.max_stamps_per_day:
                raise conflict(
                    "daily_limit_reached",
                    _("This card already has %(count)s stamps today, the daily maximum.") % {"count": stamped_today},
                    limit=program.max_stamps_per_day,
                )
        # The daily cap counts stamp operations, not the bonus stamps a promotion adds to one.
        promotion = best_promotion(program=program, store=store, operation="stamp", now=now)
        stamps = 1 + (promotion.bonus_stamps if promotion else 0)
        card.stamp_count += stamps
        card.lifetime_stamps += stamps
        card.last_stamp_at = now
        card.last_activity_at = now
        return record(
            card,
            Type.STAMP,
            saving=("stamp_count", "lifetime_stamps", "last_stamp_at", "last_activity_at"),
            stamps_delta=stamps,
            base_stamps=1,
            promotion_id=promotion.id if promotion else None,
            store=store,
            staff_user=staff_user,
            idempotency_key=idempotency_key,
            now=now,
        )


def reward_not_found() -> LoyaltyError:
    return LoyaltyError("reward_not_found", _("That reward is not in this card's catalogue."), status=404)


def check_stamps_reward(reward: Reward, program_id: int) -> None:
    """A reward of the card's program, active, paid in stamps: 404 / 409 otherwise."""
    if reward.program_id != program_id or not reward.is_active:
        raise reward_not_found()
    if reward.stamps_cost is None:
        raise conflict(
            "wrong_reward_kind",
            f"{reward.name} is paid with points: use Redeem reward (points), not the stamp rewards.",
            reward_id=reward.pk,
            points_cost=reward.points_cost,
        )


@applies_once(Type.STAMP_REDEEM)
def redeem_stamps(
    *,
    card: LoyaltyCard,
    store: Store | None,
    staff_user: AbstractBaseUser | None,
    reward: Reward | None = None,
    idempotency_key: str = "",
    now: datetime.datetime | None = None,
) -> LedgerResult:
    """Take the stamps of a reward of the ladder (``reward``) or of the program's own stamp reward."""
    now = now or timezone.now()
    with transaction.atomic():
        card, replay = lock_card(card, idempotency_key, Type.STAMP_REDEEM, store)
        if replay:
            return replay
        program = card.program
        require_stamps(program)
        require_participation(store, "redeem")
        if reward is not None:
            check_stamps_reward(reward, program.pk)
            cost, name = reward.stamps_cost, reward.name
        else:
            cost, name = program.stamps_target, program.stamp_reward_description
        if card.stamp_count < cost:
            raise conflict(
                "insufficient_stamps",
                _("The card has %(count)s of the %(cost)s stamps %(name)s needs.")
                % {"count": card.stamp_count, "cost": cost, "name": name},
                stamp_count=card.stamp_count,
                stamps_target=cost,
            )
        card.stamp_count -= cost
        card.rewards_redeemed += 1
        card.last_redemption_at = now
        card.last_activity_at = now
        return record(
            card,
            Type.STAMP_REDEEM,
            saving=("stamp_count", "rewards_redeemed", "last_redemption_at", "last_activity_at"),
            stamps_delta=-cost,
            store=store,
            staff_user=staff_user,
            idempotency_key=idempotency_key,
            reward=reward,
            reason=name,
            now=now,
        )


@applies_once(Type.STAMP_VOID)
def void_stamp(
    *,
    card: LoyaltyCard,
    store: Store | None,
    staff_user: AbstractBaseUser | None,
    transaction_id: int,
    reason: str = "",
    approver: StaffMember | None = None,
    idempotency_key: str = "",
    now: datetime.datetime | None = None,
) -> LedgerResult:
    """Undo a stamp or a stamp-reward redemption given by mistake, on the day it was given (TIME_ZONE).

    A stamp takes back the stamps it gave (a promotion's bonus included), refused when the card no
    longer has them (the reward was redeemed since). A redemption gives its stamps back; when the
    program has an approval threshold a cashier needs a manager's approval for it, since it hands a
    whole reward back. Each is voided once; the ledger row points to it.
    """
    now = now or timezone.now()
    reason = (reason or "").strip()
    with transaction.atomic():
        card, replay = lock_card(card, idempotency_key, Type.STAMP_VOID, store)
        if replay:
            return replay
        require_stamps(card.program)
        target = LoyaltyTransaction.objects.filter(
            pk=transaction_id, card=card, type__in=[Type.STAMP, Type.STAMP_REDEEM]
        ).first()
        if target is None:
            raise invalid("unknown_transaction", _("That stamp or stamp reward is not on this card."))
        if target.reversals.filter(type=Type.STAMP_VOID).exists():
            raise conflict("already_voided", _("That was already voided."))
        if timezone.localdate(target.created_at) != timezone.localdate(now):
            raise conflict(
                "void_window_closed",
                _("Only today's stamps and stamp rewards can be voided; a manager can adjust the card."),
                day=str(timezone.localdate(target.created_at)),
            )
        stamps = -target.stamps_delta  # negative for a stamp (taken back), positive for a redemption
        approved_by = None
        if target.type == Type.STAMP:
            if card.stamp_count + stamps < 0:
                raise conflict(
                    "insufficient_stamps",
                    _("The card has %(count)s stamps; this stamp gave %(given)s, already spent.")
                    % {"count": card.stamp_count, "given": -stamps},
                    stamp_count=card.stamp_count,
                )
            card.lifetime_stamps = max(0, card.lifetime_stamps + stamps)
            default_reason = "Stamp given by mistake"
        else:
            threshold = card.program.approval_threshold_points
            if threshold is not None:
                # A whole reward handed back: above any threshold (approval_for compares the points).
                approved_by = approval_for(
                    program=card.program, points=threshold + 1, staff_user=staff_user, approver=approver
                )
            card.rewards_redeemed = max(0, card.rewards_redeemed - 1)
            default_reason = f"Redemption of {target.reason} undone" if target.reason else "Redemption undone"
        card.stamp_count += stamps
        return record(
            card,
            Type.STAMP_VOID,
            saving=("stamp_count", "lifetime_stamps", "rewards_redeemed"),
            stamps_delta=stamps,
            store=store,
            staff_user=staff_user,
            idempotency_key=idempotency_key,
            related_transaction=target,
            reason=reason or default_reason,
            approved_by=approved_by,
            now=now,
        )
