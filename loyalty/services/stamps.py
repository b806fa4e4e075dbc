"""Stamps: add one (cooldown, daily cap) and redeem a full card."""

import datetime
import math

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from core.errors import conflict
from loyalty.models import LoyaltyCard
from loyalty.services.ledger import (
    LedgerResult,
    Type,
    human_wait,
    lock_card,
    record,
    require_stamps,
    save_card,
)
from merchants.models import Store


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
        if program.stamp_cooldown_minutes and card.last_stamp_at:
            ready_at = card.last_stamp_at + datetime.timedelta(minutes=program.stamp_cooldown_minutes)
            if now < ready_at:
                wait = math.ceil((ready_at - now).total_seconds())
                raise conflict(
                    "cooldown_active",
                    f"This card was stamped moments ago; the next stamp is possible in {human_wait(wait)}.",
                    retry_after_seconds=wait,
                )
        if program.max_stamps_per_day is not None:
            day_start = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
            stamped_today = card.transactions.filter(type=Type.STAMP, created_at__gte=day_start).count()
            if stamped_today >= program.max_stamps_per_day:
                raise conflict(
                    "daily_limit_reached",
                    f"This card already has {stamped_today} stamps today, the daily maximum.",
                    limit=program.max_stamps_per_day,
                )
        card.stamp_count += 1
        card.lifetime_stamps += 1
        card.last_stamp_at = now
        card.last_activity_at = now
        save_card(card, "stamp_count", "lifetime_stamps", "last_stamp_at", "last_activity_at")
        return record(
            card,
            Type.STAMP,
            stamps_delta=1,
            store=store,
            staff_user=staff_user,
            idempotency_key=idempotency_key,
            now=now,
        )


def redeem_stamps(
    *,
    card: LoyaltyCard,
    store: Store | None,
    staff_user: AbstractBaseUser | None,
    idempotency_key: str = "",
    now: datetime.datetime | None = None,
) -> LedgerResult:
    now = now or timezone.now()
    with transaction.atomic():
        card, replay = lock_card(card, idempotency_key, Type.STAMP_REDEEM, store)
        if replay:
            return replay
        program = card.program
        require_stamps(program)
        if card.stamp_count < program.stamps_target:
            raise conflict(
                "insufficient_stamps",
                f"The card has {card.stamp_count} of the {program.stamps_target} stamps the reward needs.",
                stamp_count=card.stamp_count,
                stamps_target=program.stamps_target,
            )
        card.stamp_count -= program.stamps_target
        card.rewards_redeemed += 1
        card.last_redemption_at = now
        card.last_activity_at = now
        save_card(card, "stamp_count", "rewards_redeemed", "last_redemption_at", "last_activity_at")
        return record(
            card,
            Type.STAMP_REDEEM,
            stamps_delta=-program.stamps_target,
            store=store,
            staff_user=staff_user,
            idempotency_key=idempotency_key,
            reason=program.stamp_reward_description,
            now=now,
        )
