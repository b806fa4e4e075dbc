"""Phone numbers as the E.164 string they are stored and looked up as (``+33612345678``).

``06 12 34 56 78`` typed at a French merchant and ``+33 6 12 34 56 78`` are the same phone, so
customers' phones are stored in E.164 and the till's lookup parses what the cashier types with
the merchant's country (``Merchant.country``) and matches it exactly, which the
(merchant, phone) index answers. Google's libphonenumber (the ``phonenumbers`` package) knows
each country's trunk prefix and number lengths.
"""

import phonenumbers

DEFAULT_COUNTRY = "FR"


def to_e164(raw: str, country: str = DEFAULT_COUNTRY) -> str | None:
    """``raw`` in E.164 when it is a possible phone number (national numbers read in ``country``), else None."""
    raw = (raw or "").strip()
    if not raw or len(raw) > 40:
        return None
    try:
        number = phonenumbers.parse(raw, (country or DEFAULT_COUNTRY).upper())
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def stored_phone(raw: str, country: str = DEFAULT_COUNTRY) -> str:
    """What to store for a customer's phone: E.164 when it parses, else what was given (trimmed)."""
    raw = (raw or "").strip()
    return to_e164(raw, country) or raw
