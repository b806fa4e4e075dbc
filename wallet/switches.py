"""Whether each wallet is switched on: the SPEC's derived flags, read at call time.

Derived from the LOYALTY_* settings, so tests and deployments switch a wallet on or off by
setting its variables; nothing else decides it.
"""

from django.conf import settings

APPLE_VARIABLES = (
    "LOYALTY_APPLE_PASS_TYPE_ID",
    "LOYALTY_APPLE_TEAM_ID",
    "LOYALTY_APPLE_CERT_PATH",
    "LOYALTY_APPLE_KEY_PATH",
    "LOYALTY_APPLE_WWDR_CERT_PATH",
)
GOOGLE_VARIABLES = ("LOYALTY_GOOGLE_SERVICE_ACCOUNT_JSON", "LOYALTY_GOOGLE_ISSUER_ID")


def is_google_wallet_enabled() -> bool:
    return all(getattr(settings, name, None) for name in GOOGLE_VARIABLES)


def is_apple_wallet_enabled() -> bool:
    return all(getattr(settings, name, None) for name in APPLE_VARIABLES)
