"""What we keep about a customer, as one JSON document (GDPR article 15: the right of access).

Managers download it through the API (``GET /api/v1/customers/{id}/export/``), the customer from
their card page (``/card/<qr_code_data>/data/``); both get :func:`export_customer`.

Every concrete field of the models that hold something about a customer is either exported
(``EXPORTED``) or listed in ``NOT_EXPORTED`` with the reason; every model that points at a customer
or a card is either exported or in ``NOT_EXPORTED_MODELS``. tests/privacy/test_export.py reads the
models and fails when a field or a model is in neither, so a new personal field cannot be forgotten.
"""

import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Model
from django.utils import timezone

from customers.models import Customer, Erasure
from loyalty.models import ExpiryReminder, LoyaltyCard, LoyaltyTransaction
from notifications.models import OutboundEmail
from wallet.models import AppleDeviceRegistration

FORMAT = "loyalty-portal/customer-export/1"

# Model -> fields exported (a relation is exported as something a person reads: a name, not an id).
EXPORTED: dict[type[Model], tuple[str, ...]] = {
    Customer: (
        "id",
        "first_name",
        "last_name",
        "email",
        "phone",
        "birth_date",
        "birth_date_changed_at",
        "preferred_language",
        "created_at",
        "updated_at",
        "erased_at",
        # consents, exported under "consents"
        "terms_accepted_at",
        "marketing_opt_in",
        "email_opt_out",
    ),
    LoyaltyCard: (
        "id",
        "card_number",
        "qr_code_data",
        "program",
        "enrolled_at_store",
        "stamp_count",
        "lifetime_stamps",
        "rewards_redeemed",
        "points_balance",
        "lifetime_points_earned",
        "lifetime_points_redeemed",
        "lifetime_points_voided",
        "google_object_id",
        "apple_serial_number",
        "google_notices",
        "tier",
        "tier_changed_at",
        "last_stamp_at",
        "last_points_at",
        "last_redemption_at",
        "last_activity_at",
        "is_active",
        "deleted_at",
        "created_at",
        "updated_at",
    ),
    LoyaltyTransaction: (
        "id",
        "type",
        "stamps_delta",
        "points_delta",
        "stamps_after",
        "points_after",
        "purchase_amount",
        "order_reference",
        "reward",
        "reason",
        "store",
        "related_transaction",
        "bonus_year",
        "promotion",
        "base_points",
        "base_stamps",
        "points_multiplier",
        "created_at",
    ),
    AppleDeviceRegistration: (
        "id",
        "device_library_identifier",
        "push_token",
        "created_at",
        "updated_at",
        "last_pushed_at",
    ),
    ExpiryReminder: ("id", "expires_on", "points", "emailed", "created_at"),
    OutboundEmail: (
        "id",
        "kind",
        "to_address",
        "subject",
        "body_text",
        "body_html",
        "headers",
        "status",
        "created_at",
        "sent_at",
    ),
    Erasure: ("id", "source", "reason", "cards", "created_at"),
}
CONSENT_FIELDS = ("terms_accepted_at", "marketing_opt_in", "email_opt_out")

# Fields of those models deliberately left out, and why (none of them is about the person).
NOT_EXPORTED: dict[type[Model], dict[str, str]] = {
    Customer: {
        "merchant": "the merchant, given once at the top of the export",
        "birth_date_changed_by": "a staff member's account, not the customer's data",
    },
    LoyaltyCard: {
        "merchant": "given once at the top",
        "customer": "the card is exported under its customer",
        "apple_auth_token": "the pass's credential for Apple's web service, not data about the person",
    },
    LoyaltyTransaction: {
        "card": "the row is exported under its card",
        "merchant": "given once at the top",
        "staff_user": "a staff member's account, not the customer's data",
        "approved_by": "the approving manager's account, not the customer's data",
        "idempotency_key": "the till's technical retry key",
    },
    AppleDeviceRegistration: {"card": "exported under its card"},
    ExpiryReminder: {"card": "exported under its card"},
    OutboundEmail: {
        "merchant": "given once at the top",
        "customer": "the export is the customer's",
        "dedupe_key": "a technical key that keeps a job from sending twice",
        "attempts": "delivery bookkeeping",
        "next_attempt_at": "delivery bookkeeping",
        "last_error": "the mail server's last answer, delivery bookkeeping",
    },
    Erasure: {
        "merchant": "given once at the top",
        "customer": "the export is the customer's",
        "erased_by": "a staff member's account",
    },
}

# Models that point at a customer or a card and hold nothing about the person.
NOT_EXPORTED_MODELS: dict[str, str] = {
    "wallet.WalletUpdate": "the queue of pass refreshes to send: a card id and delivery times",
    "loyalty.Alert": "the merchant's anomaly alerts about till operations (staff checks); the operations themselves are in the exported ledger",
}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _readable(obj: Model, name: str) -> Any:
    """A field's value as a person reads it: a store or reward by its name, a date in ISO 8601."""
    field = obj._meta.get_field(name)
    if field.is_relation:
        related = getattr(obj, name)
        if related is None:
            return None
        if isinstance(related, LoyaltyTransaction):
            return related.pk
        return str(getattr(related, "name", related))
    return _plain(getattr(obj, field.attname))


def _row(obj: Model, names: tuple[str, ...] | None = None) -> dict[str, Any]:
    return {name: _readable(obj, name) for name in (names or EXPORTED[type(obj)])}


def export_customer(customer: Customer, *, now: datetime.datetime | None = None) -> dict[str, Any]:
    """Everything kept about ``customer`` at their merchant, in a fixed number of queries."""
    cards = list(
        LoyaltyCard.objects.filter(customer=customer)
        .select_related("program", "enrolled_at_store")
        .order_by("created_at", "pk")
    )
    ledger: dict[int, list[dict]] = {card.pk: [] for card in cards}
    for entry in (
        LoyaltyTransaction.objects.filter(card__customer=customer)
        .select_related("store", "reward", "related_transaction")
        .order_by("created_at", "pk")
    ):
        ledger[entry.card_id].append(_row(entry))
    devices: dict[int, list[dict]] = {card.pk: [] for card in cards}
    for registration in AppleDeviceRegistration.objects.filter(card__customer=customer).order_by("created_at", "pk"):
        devices[registration.card_id].append(_row(registration))
    reminders: dict[int, list[dict]] = {card.pk: [] for card in cards}
    for reminder in ExpiryReminder.objects.filter(card__customer=customer).order_by("created_at", "pk"):
        reminders[reminder.card_id].append(_row(reminder))

    profile_fields = tuple(name for name in EXPORTED[Customer] if name not in CONSENT_FIELDS)
    merchant = customer.merchant
    return {
        "format": FORMAT,
        "exported_at": (now or timezone.now()).isoformat(),
        "merchant": {"name": merchant.name, "slug": merchant.slug, "contact_email": merchant.contact_email},
        "customer": _row(customer, profile_fields),
        "consents": _row(customer, CONSENT_FIELDS),
        "cards": [
            {
                **_row(card),
                "ledger": ledger[card.pk],
                "expiry_reminders": reminders[card.pk],
                "wallet": {"apple_device_registrations": devices[card.pk]},
            }
            for card in cards
        ],
        "emails": [
            _row(email) for email in OutboundEmail.objects.filter(customer=customer).order_by("created_at", "pk")
        ],
        "erasures": [_row(erasure) for erasure in Erasure.objects.filter(customer=customer).order_by("created_at")],
    }


def export_filename(customer: Customer) -> str:
    return f"customer-{customer.pk}-data.json"
