"""Every balance change of a loyalty card happens here and nowhere else.

Each operation: one transaction, the card row locked, the rules checked, the card
updated, one ledger row written with the balances after it, a wallet pass update
recorded in the outbox. Views, admin actions, tasks and commands all call these.
"""

from loyalty.services.adjustments import adjust_balance
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
    LedgerResult,
)
from loyalty.services.points import earn_points, points_for_purchase, redeem_points, void_points
from loyalty.services.programs import (
    delete_rewards,
    refresh_program_passes,
    save_reward,
    update_merchant,
    update_program,
)
from loyalty.services.stamps import add_stamp, redeem_stamps

__all__ = [
    "MAX_POINTS_PER_OPERATION",
    "MAX_PURCHASE_AMOUNT",
    "MAX_STAMPS_PER_ADJUSTMENT",
    "ExpiryReport",
    "LedgerResult",
    "add_stamp",
    "delete_rewards",
    "adjust_balance",
    "earn_points",
    "expire_points",
    "expiring_programs",
    "expiry_candidates",
    "issue_card",
    "points_for_purchase",
    "redeem_points",
    "refresh_customer_passes",
    "refresh_program_passes",
    "redeem_stamps",
    "save_reward",
    "set_cards_active",
    "soft_delete_cards",
    "update_card",
    "update_merchant",
    "update_program",
    "void_points",
]
