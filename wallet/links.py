"""The links a customer's card page shows for adding the card to a wallet."""

from dataclasses import dataclass

from loyalty.models import LoyaltyCard
from wallet.switches import is_apple_wallet_enabled, is_google_wallet_enabled


@dataclass(frozen=True)
class WalletLinks:
    google_save_url: str | None
    apple_pass_url: str | None


def wallet_links(card: LoyaltyCard) -> WalletLinks:
    """Links for the wallets that are switched on; ``None`` for the others."""
    google = apple = None
    if is_google_wallet_enabled():
        from wallet.google import save_url

        google = save_url(card)
    if is_apple_wallet_enabled():
        from django.urls import reverse

        apple = reverse("wallet:apple-card-pass", args=[card.qr_code_data])
    return WalletLinks(google_save_url=google, apple_pass_url=apple)
