"""A customer's email preferences: emails on or off, marketing on or off, language.

Changed on the preferences page (``/card/<qr_code_data>/preferences/``, reached only through the
card's secret address) or by the one-click unsubscribe link every email carries in its
``List-Unsubscribe`` header. That link is signed (django.core.signing) with the card it is for,
so it cannot be guessed from a card number or edited to unsubscribe someone else.
"""

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from customers.models import Customer
from loyalty.models import LoyaltyCard

UNSUBSCRIBE_SALT = "customers.preferences.unsubscribe"


def preferences_url(card: LoyaltyCard) -> str:
    return settings.LOYALTY_PUBLIC_BASE_URL + reverse("customers:preferences", args=[card.qr_code_data])


def unsubscribe_token(card: LoyaltyCard) -> str:
    return signing.dumps({"card": card.pk}, salt=UNSUBSCRIBE_SALT, compress=False)


def unsubscribe_url(card: LoyaltyCard) -> str:
    path = reverse("customers:unsubscribe", args=[card.qr_code_data, unsubscribe_token(card)])
    return settings.LOYALTY_PUBLIC_BASE_URL + path


def card_for_unsubscribe(*, qr_code_data: str, token: str) -> LoyaltyCard | None:
    """The card an unsubscribe link is for, or None when the link was tampered with or is not this card's."""
    try:
        payload = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature:
        return None
    card_id = payload.get("card") if isinstance(payload, dict) else None
    if not isinstance(card_id, int):
        return None
    return (
        LoyaltyCard.objects.select_related("customer", "merchant").filter(pk=card_id, qr_code_data=qr_code_data).first()
    )


def email_headers(card: LoyaltyCard) -> dict[str, str]:
    """``List-Unsubscribe`` (the one-click link, then the preferences page) for every email to a customer."""
    return {
        "List-Unsubscribe": f"<{unsubscribe_url(card)}>, <{preferences_url(card)}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def supported_language(language: str) -> str:
    codes = {code for code, _ in settings.LANGUAGES}
    if language not in codes:
        # The page's form refuses it first, with the same message; this guards any other caller.
        raise ValidationError("Choose one of the languages offered.", code="invalid_choice")
    return language


def update_preferences(
    *, customer: Customer, email_opt_out: bool, marketing_opt_in: bool, preferred_language: str
) -> list[str]:
    """Store what the customer chose; returns the fields that changed. Nothing is on a wallet pass."""
    values = {
        "email_opt_out": bool(email_opt_out),
        "marketing_opt_in": bool(marketing_opt_in),
        "preferred_language": supported_language(preferred_language),
    }
    with transaction.atomic(durable=True):
        stored = Customer.objects.select_for_update().get(pk=customer.pk)
        changed = [name for name, value in values.items() if getattr(stored, name) != value]
        for name in changed:
            setattr(stored, name, values[name])
        if changed:
            stored.save(update_fields=[*changed, "updated_at"])
    for name in values:
        setattr(customer, name, getattr(stored, name))
    return changed


def unsubscribe(*, customer: Customer) -> bool:
    """Switch every email off (the one-click link); returns whether it was on."""
    with transaction.atomic(durable=True):
        return bool(
            Customer.objects.filter(pk=customer.pk, email_opt_out=False).update(
                email_opt_out=True, updated_at=timezone.now()
            )
        )
