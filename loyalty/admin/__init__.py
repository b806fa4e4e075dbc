"""The loyalty admin, one module per topic; importing this package registers every model.

programs (programs, rewards and tiers), promotions, cards (and the balance adjustment), ledger, alerts.
The search box of the cards, customers and ledger lists is loyalty/admin_search.py.
"""

# Registered in this order (the admin's URLs and registry keep the order of the single module they came from).
# isort: off
from loyalty.admin.programs import LoyaltyProgramAdmin, RewardAdmin
from loyalty.admin.promotions import PromotionAdmin, PromotionForm
from loyalty.admin.cards import AdjustBalanceForm, LoyaltyCardAdmin
from loyalty.admin.ledger import LoyaltyTransactionAdmin
from loyalty.admin.alerts import AlertAdmin

# isort: on

__all__ = [
    "AdjustBalanceForm",
    "AlertAdmin",
    "LoyaltyCardAdmin",
    "LoyaltyProgramAdmin",
    "LoyaltyTransactionAdmin",
    "PromotionAdmin",
    "PromotionForm",
    "RewardAdmin",
]
