from django.apps import AppConfig


class WalletConfig(AppConfig):
    name = "wallet"
    verbose_name = "Wallet passes"

    def ready(self) -> None:
        # Registers the start-up validation of the LOYALTY_GOOGLE_* / LOYALTY_APPLE_* settings.
        from wallet import checks  # noqa: F401
