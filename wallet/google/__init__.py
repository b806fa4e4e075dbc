"""Google Wallet: a loyalty class per program, an object per card, the Save link."""

from wallet.google.sync import save_url, sync_card_object

__all__ = ["save_url", "sync_card_object"]
