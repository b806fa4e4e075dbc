"""Manual corrections by a manager or owner."""

import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import conflict, invalid
from loyalty.models import LoyaltyCard
from loyalty.services.ledger import (
    MAX_POINTS_PER_OPERATION,
    MAX_STAMPS_PER_ADJUSTMENT,
    LedgerResult,
    Type,
    applies_once,
    lock_card,
    record,
    require_points,
    require_stamps,
)
from merchants.authorization import require_manager_of
from merchants.models import Store


@applies_once(Type.POINTS_ADJUST, Type.STAMPS_ADJUST)
def adjust_balance(
    *,
    card: LoyaltyCard,
    staff_user: AbstractBaseUser | None,
    reason: str,
    points_delta: int = 0,
    stamps_delta: int = 0,
    store: Store | None = None,
    idempotency_key: str = "",
    now: datetime.datetime | None = None,
) -> LedgerResult:
    """A manual correction by a manager or owner (or the platform operator)."""
    now = now or timezone.now()
    reason = (reason or "").strip()
    if not reason:
        raise invalid("reason_required", _("An adjustment needs a reason."))
    if not isinstance(points_delta, int) or not isinstance(stamps_delta, int):
        raise invalid("invalid_input", "Adjustments are whole numbers.")
    if points_delta == 0 and stamps_delta == 0:
        raise invalid("invalid_input", "An adjustment changes points, stamps or both.")
    if abs(points_delta) > MAX_POINTS_PER_OPERATION or abs(stamps_delta) > MAX_STAMPS_PER_ADJUSTMENT:
        raise invalid("invalid_amount", "That adjustment is larger than any real correction.")
    with transaction.atomic():
        card, replay = lock_card(
            card, idempotency_key, Type.POINTS_ADJUST if points_delta else Type.STAMPS_ADJUST, store
        )
        if replay:
            return replay
        require_manager_of(staff_user, card.merchant_id, _("Only a manager or the owner can adjust balances."))
        if points_delta:
            require_points(card.program)
        if stamps_delta:
            require_stamps(card.program)
        if card.points_balance + points_delta < 0:
            raise conflict(
                "insufficient_points",
                _("The card has %(balance)s points; cannot remove %(points)s.")
                % {"balance": card.points_balance, "points": -points_delta},
                points_balance=card.points_balance,
            )
        if card.stamp_count + stamps_delta < 0:
            raise conflict(
                "insufficient_stamps",
                _("The card has %(count)s stamps; cannot remove %(stamps)s.")
                % {"count": card.stamp_count, "stamps": -stamps_delta},
                stamp_count=card.stamp_count,
            )
        card.points_balance += points_delta
        card.stamp_count += stamps_delta
        return record(
            card,
            Type.POINTS_ADJUST if points_delta else Type.STAMPS_ADJUST,
            saving=("points_balance", "stamp_count"),
            points_delta=points_delta,
            stamps_delta=stamps_delta,
            store=store,
            staff_user=staff_user,
            idempotency_key=idempotency_key,
            reason=reason,
            now=now,
        )
