"""Emails to a customer: rendered in their language and the merchant's branding, queued durably.

Every email has a plain-text and an HTML part (``customers/email/<name>.txt`` and ``.html``; the
HTML extends ``customers/email/base.html``, drawn in the program's colours), and carries the
``List-Unsubscribe`` headers pointing at the card's preferences (customers/preferences.py).
Queued with notifications.services.queue_email in the caller's transaction.
"""

from collections.abc import Callable

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from customers import preferences
from customers.branding import branding_for
from loyalty.models import LoyaltyCard
from notifications.models import OutboundEmail
from notifications.services import queue_email


def card_page_url(card: LoyaltyCard) -> str:
    """The absolute, bookmarkable address of the customer's card page."""
    return settings.LOYALTY_PUBLIC_BASE_URL + reverse("customers:card", args=[card.qr_code_data])


def customer_language(card: LoyaltyCard) -> str:
    return card.customer.preferred_language or settings.LANGUAGE_CODE


def queue_customer_email(
    *,
    card: LoyaltyCard,
    template: str,
    kind: str,
    subject: Callable[[], str],
    context: dict | None = None,
    dedupe_key: str = "",
) -> OutboundEmail | None:
    """Render ``template`` (text and HTML) and ``subject()`` in the customer's language and queue it.

    Returns None when ``dedupe_key`` was queued before (a rerun of a job).
    """
    customer = card.customer
    merchant = card.merchant
    with translation.override(customer_language(card)):
        full_context = {
            "customer": customer,
            "merchant": merchant,
            "program": card.program,
            "card": card,
            "brand": branding_for(merchant, card.program),
            "card_url": card_page_url(card),
            "preferences_url": preferences.preferences_url(card),
            "language": translation.get_language(),
            **(context or {}),
        }
        subject_text = subject()
        body_text = render_to_string(f"customers/email/{template}.txt", full_context)
        body_html = render_to_string(f"customers/email/{template}.html", {**full_context, "subject": subject_text})
    return queue_email(
        merchant_id=merchant.pk,
        customer_id=customer.pk,
        to_address=customer.email,
        subject=subject_text,
        body_text=body_text,
        body_html=body_html,
        kind=kind,
        headers=preferences.email_headers(card),
        dedupe_key=dedupe_key,
    )
