"""Erasing a customer (GDPR article 17), and erasing the inactive ones (``LOYALTY_RETENTION_DAYS``).

The customer row and their cards stay, because the ledger references them and the merchant's
figures (liability, insights, ``verify_ledger``) must stay true; what identifies the person goes:

- names become "Erased", the email ``erased-<id>@invalid``, phone and birth date are emptied,
  marketing is off and emails are switched off;
- every card is deactivated through the card service (a wallet update is recorded: the Google
  object turns ``INACTIVE``, Apple devices get a last push and their registrations are then removed,
  see wallet/delivery.py), and gets a new QR token so the old card page and QR find nothing;
- emails queued or sent to them keep their kind and dates but lose address, subject and body (one
  still pending is not sent);
- stored POS answers that showed the card (idempotency records) and the admin's change history
  titles that named the customer are scrubbed;
- the ledger is untouched: balances and sums stay as they were.

The erasure itself is recorded (``Erasure``: who, when, why, how many cards; no personal data).
Erasing twice changes nothing the second time.
"""

import datetime
import logging
from dataclasses import dataclass

from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from core.errors import invalid
from customers.models import Customer, Erasure
from loyalty import services as loyalty_services
from loyalty.models import IdempotencyRecord, LoyaltyCard, generate_qr_code_data
from notifications.models import OutboundEmail
from wallet.outbox import schedule_pass_updates

logger = logging.getLogger(__name__)

ERASED_NAME = "Erased"
ERASED_TEXT = "(erased)"
MAX_REASON_LENGTH = 255


def erased_email(customer_id: int) -> str:
    return f"erased-{customer_id}@invalid"


@dataclass(frozen=True)
class ErasureResult:
    customer: Customer
    erasure: Erasure
    already_erased: bool


def clean_reason(reason: str | None) -> str:
    reason = " ".join((reason or "").split())
    if not reason:
        raise invalid("reason_required", "Say why the customer is erased (their request, the retention period…).")
    return reason[:MAX_REASON_LENGTH]


def erase_customer(
    *,
    customer: Customer,
    reason: str,
    erased_by: AbstractBaseUser | None = None,
    source: str = Erasure.Source.ADMIN,
    now: datetime.datetime | None = None,
) -> ErasureResult:
    """Replace the customer's personal data, deactivate and revoke their cards; the ledger stays whole."""
    reason = clean_reason(reason)
    now = now or timezone.now()
    by = erased_by if erased_by is not None and erased_by.is_authenticated else None
    with transaction.atomic(durable=True):
        stored = Customer.objects.select_for_update().get(pk=customer.pk)
        if stored.erased_at is not None:
            erasure = Erasure.objects.filter(customer=stored).first()
            if erasure is None:  # erased before the audit existed: record it now
                erasure = Erasure.objects.create(
                    merchant_id=stored.merchant_id, customer=stored, erased_by=by, source=source, reason=reason
                )
            return ErasureResult(customer=stored, erasure=erasure, already_erased=True)
        old_email = stored.email
        card_ids = list(LoyaltyCard.objects.filter(customer=stored).values_list("pk", flat=True))
        card_numbers = list(LoyaltyCard.objects.filter(pk__in=card_ids).values_list("card_number", flat=True))

        stored.first_name = ERASED_NAME
        stored.last_name = ERASED_NAME
        stored.email = erased_email(stored.pk)
        stored.phone = ""
        stored.birth_date = None
        stored.birth_date_changed_at = None
        stored.birth_date_changed_by = None
        stored.marketing_opt_in = False
        stored.email_opt_out = True
        stored.erased_at = now
        stored.save()

        # Cards: off through the card service (a wallet update each), and a new QR token so the old
        # card page, its data download and the printed QR find nothing.
        loyalty_services.set_cards_active(card_ids=card_ids, active=False)
        for card_id in card_ids:
            LoyaltyCard.objects.filter(pk=card_id).update(qr_code_data=generate_qr_code_data(), updated_at=now)
        schedule_pass_updates(card_ids)  # also the cards that were inactive already: revoke their passes

        _scrub_emails(stored, old_email)
        if card_numbers:
            IdempotencyRecord.objects.filter(merchant_id=stored.merchant_id).filter(
                _any_contains("response_body", card_numbers)
            ).delete()
        LogEntry.objects.filter(
            content_type=ContentType.objects.get_for_model(Customer), object_id=str(stored.pk)
        ).update(object_repr=f"{ERASED_NAME} (customer {stored.pk})")

        erasure = Erasure.objects.create(
            merchant_id=stored.merchant_id,
            customer=stored,
            erased_by=by,
            source=source,
            reason=reason,
            cards=len(card_ids),
            created_at=now,
        )
    logger.info("customer %s erased (%s, %d card(s))", stored.pk, source, len(card_ids))
    for name in ("first_name", "last_name", "email", "phone", "birth_date", "marketing_opt_in", "erased_at"):
        setattr(customer, name, getattr(stored, name))
    return ErasureResult(customer=stored, erasure=erasure, already_erased=False)


def _any_contains(field: str, values: list[str]) -> Q:
    condition = Q()
    for value in values:
        condition |= Q(**{f"{field}__contains": value})
    return condition


def _scrub_emails(customer: Customer, old_email: str) -> None:
    emails = OutboundEmail.objects.filter(merchant_id=customer.merchant_id).filter(
        Q(customer=customer) | Q(to_address__iexact=old_email)
    )
    emails.filter(status=OutboundEmail.Status.PENDING).update(
        status=OutboundEmail.Status.FAILED, last_error="Not sent: the customer's personal data was erased."
    )
    emails.update(
        customer=customer,
        to_address=customer.email,
        subject=ERASED_TEXT,
        body_text=ERASED_TEXT,
        body_html="",
        headers={},
    )


# --- retention ----------------------------------------------------------------------------------


def retention_cutoff(now: datetime.datetime | None = None, days: int | None = None) -> datetime.datetime | None:
    days = settings.LOYALTY_RETENTION_DAYS if days is None else days
    if not days:
        return None
    return (now or timezone.now()) - datetime.timedelta(days=days)


def inactive_customers(
    *, now: datetime.datetime | None = None, days: int | None = None, merchant_slug: str | None = None
) -> QuerySet[Customer]:
    """Customers not erased whose cards had no activity since the cutoff (and who joined before it).

    None when no retention period is set.
    """
    cutoff = retention_cutoff(now, days)
    if cutoff is None:
        return Customer.objects.none()
    customers = Customer.objects.filter(erased_at__isnull=True, created_at__lt=cutoff).exclude(
        cards__last_activity_at__gte=cutoff
    )
    if merchant_slug:
        customers = customers.filter(merchant__slug=merchant_slug)
    return customers.order_by("pk")


@dataclass
class RetentionReport:
    days: int | None
    erased: int = 0


def erase_inactive_customers(
    *, now: datetime.datetime | None = None, merchant_slug: str | None = None, on_erased=None
) -> RetentionReport:
    """Erase every customer inactive for longer than ``LOYALTY_RETENTION_DAYS`` (each in its own transaction)."""
    days = settings.LOYALTY_RETENTION_DAYS
    report = RetentionReport(days=days)
    if not days:
        return report
    now = now or timezone.now()
    reason = f"Retention: no card activity for more than {days} days"
    ids = list(inactive_customers(now=now, merchant_slug=merchant_slug).values_list("pk", flat=True))
    for customer in Customer.objects.filter(pk__in=ids).iterator(chunk_size=500):
        # A card may have been used since the list was read: checked again just before erasing.
        if LoyaltyCard.objects.filter(customer=customer, last_activity_at__gte=retention_cutoff(now, days)).exists():
            continue
        result = erase_customer(customer=customer, reason=reason, source=Erasure.Source.RETENTION, now=now)
        if not result.already_erased:
            report.erased += 1
            if on_erased:
                on_erased(customer)
    return report
