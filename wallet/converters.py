"""Path converters of the wallet URLs: what an identifier may look like, checked before any query.

Anything else (a NUL, which PostgreSQL refuses in text; 5,000 characters, which overflow the
varchar(255) column; a slash) is a 404 from the URL resolver, never a database error.
"""

from django.urls import register_converter


class AppleIdentifierConverter:
    """Device library identifiers, pass type ids and serial numbers: at most 255 plain characters.

    Apple's are hexadecimal (devices) or reverse-DNS (pass types), ours hexadecimal (serials);
    letters, digits and ``. _ - ~ + = :`` leave room for any other scheme.
    """

    regex = r"[A-Za-z0-9._~+=:-]{1,255}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class WalletCardTokenConverter:
    """A card's qr_code_data (URL-safe base64), as on the card page."""

    regex = r"[A-Za-z0-9_-]{1,64}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(AppleIdentifierConverter, "apple_id")
register_converter(WalletCardTokenConverter, "wallet_card_token")
