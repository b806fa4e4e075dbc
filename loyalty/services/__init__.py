"""Every balance change of a loyalty card happens here and nowhere else.

Each operation: one transaction, the card row locked, the rules checked, the card
updated, one ledger row written with the balances after it, a wallet pass update
recorded in the outbox. Views, admin actions, tasks and commands all call these.
"""

from loyalty.services.adjustments import adjust_balance
from loyalty.services.birthdays import BirthdayReport, due_birthdays, grant_birthday_bonus, grant_birthday_rewards
from loyalty.services.cards import (
    issue_card,
    refresh_customer_passes,
    set_cards_active,
    soft_delete_cards,
    update_card,
)
from loyalty.services.expiry import ExpiryReport, expire_points, expiring_programs, expiry_candidates
from loyalty.services.ledger import (
    MAX_POINTS_PER_OPERATION,
    MAX_PURCHASE_AMOUNT,
    MAX_STAMPS_PER_ADJUSTMENT,
    CardAtTill,
    LedgerResult,
    PinNotProven,
    applied_with_key,
    card_not_found,
)
from loyalty.services.points import earn_points, points_for_purchase, redeem_points, void_points
from loyalty.services.programs import (
    delete_rewards,
    refresh_program_passes,
    save_reward,
    update_merchant,
    update_program,
)
from loyalty.services.promotions import (
    MAX_ACTIVE_PROMOTIONS,
    best_promotion,
    overlapping_promotions,
    save_promotion,
)
from loyalty.services.reminders import ReminderReport, due_reminders, send_expiry_reminder, send_expiry_reminders
from loyalty.services.stamps import add_stamp, redeem_stamps, void_stamp
from loyalty.services.tiers import TierReport, points_earned_12m, review_tiers

__all__ = [
    "MAX_ACTIVE_PROMOTIONS",
    "MAX_POINTS_PER_OPERATION",
    "MAX_PURCHASE_AMOUNT",
    "MAX_STAMPS_PER_ADJUSTMENT",
    "BirthdayReport",
    "CardAtTill",
    "PinNotProven",
    "applied_with_key",
    "card_not_found",
    "ExpiryReport",
    "LedgerResult",
    "ReminderReport",
    "TierReport",
    "best_promotion",
    "overlapping_promotions",
    "points_earned_12m",
    "review_tiers",
    "save_promotion",
    "add_stamp",
    "delete_rewards",
    "due_birthdays",
    "due_reminders",
    "adjust_balance",
    "earn_points",
    "expire_points",
    "expiring_programs",
    "expiry_candidates",
    "grant_birthday_bonus",
    "grant_birthday_rewards",
    "issue_card",
    "points_for_purchase",
    "redeem_points",
    "refresh_customer_passes",
    "refresh_program_passes",
    "redeem_stamps",
    "save_reward",
    "send_expiry_reminder",
    "send_expiry_reminders",
    "set_cards_active",
    "soft_delete_cards",
    "update_card",
    "update_merchant",
    "update_program",
    "void_points",
    "void_stamp",
]
