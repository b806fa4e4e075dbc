"""Enrollment: a customer joins a merchant's program and gets a card."""

import datetime
import logging
from dataclasses import dataclass
from enum import StrEnum

from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext

from core.errors import LoyaltyError, conflict
from customers.emails import queue_customer_email
from customers.models import Customer
from customers.phones import stored_phone
from loyalty import services as loyalty_services
from loyalty.models import LoyaltyCard, LoyaltyProgram
from merchants.models import Merchant, Store

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Enrollment:
    card: LoyaltyCard
    created: bool  # a new card (with its welcome bonus) was issued
    new_customer: bool = False  # the customer was created by this enrollment, not found by email


def active_program(merchant: Merchant) -> LoyaltyProgram | None:
    return LoyaltyProgram.objects.filter(merchant=merchant, is_active=True).first()


def enroll_customer(
    *,
    merchant: Merchant,
    store: Store | None,
    first_name: str,
    last_name: str,
    email: str,
    phone: str = "",
    birth_date: datetime.date | None = None,
    marketing_opt_in: bool = False,
    preferred_language: str = "en",
) -> Enrollment:
    """Create the customer and their card, or find the card this email already has.

    An email that already has a card never gets a second card or welcome bonus.
    """
    program = active_program(merchant)
    if not (merchant.is_active and merchant.enrollment_open and program):
        raise LoyaltyError("enrollment_closed", f"{merchant.name} is not taking new members right now.")
    email = email.strip().lower()
    new_customer = False
    with transaction.atomic():
        customer = Customer.objects.filter(merchant=merchant, email__iexact=email).first()
        if customer is None:
            try:
                with transaction.atomic():
                    customer = Customer.objects.create(
                        merchant=merchant,
                        first_name=first_name.strip(),
                        last_name=last_name.strip(),
                        email=email,
                        phone=stored_phone(phone, merchant.country),
                        birth_date=birth_date,
                        terms_accepted_at=timezone.now(),
                        marketing_opt_in=marketing_opt_in,
                        preferred_language=preferred_language,
                    )
                new_customer = True
            except IntegrityError:
                # A double submit created the customer a moment ago.
                customer = Customer.objects.get(merchant=merchant, email__iexact=email)
        existing = LoyaltyCard.objects.alive().filter(merchant=merchant, customer=customer).first()
        if existing is not None:
            return Enrollment(card=existing, created=False)
        try:
            card = loyalty_services.issue_card(customer=customer, program=program, store=store)
        except LoyaltyError as exc:
            if exc.code != "card_exists":
                raise
            return Enrollment(card=LoyaltyCard.objects.alive().get(merchant=merchant, customer=customer), created=False)
        return Enrollment(card=card, created=True, new_customer=new_customer)


def remember_language(*, customer_id: int, language: str) -> bool:
    """Store the language the customer chose, as Django's switch reads it (``fr-ca`` is French);
    a language the site does not speak changes nothing."""
    if not translation.check_for_language(language):  # what Django's set_language refuses too
        return False
    try:
        language = translation.get_supported_language_variant(language)
    except LookupError:
        return False
    return bool(Customer.objects.filter(pk=customer_id).update(preferred_language=language))


# --- editing a customer (the admin) --------------------------------------------------------

# What a wallet pass shows of the customer.
PASS_VISIBLE_CUSTOMER_FIELDS = ("first_name", "last_name")


def update_customer(
    *,
    customer: Customer,
    changed_by: AbstractBaseUser | None,
    first_name: str,
    last_name: str,
    email: str,
    phone: str,
    birth_date: datetime.date | None,
    marketing_opt_in: bool,
    preferred_language: str,
    email_opt_out: bool | None = None,
) -> list[str]:
    """Change a customer's details; returns the names of the fields that changed.

    A new name is on the wallet passes: the customer's live cards get a pass update. A new
    birth date records who changed it and when (the birthday bonus waits after a change).
    """
    values = {
        "first_name": first_name.strip(),
        "last_name": last_name.strip(),
        "email": email.strip().lower(),
        "phone": stored_phone(phone, customer.merchant.country),
        "birth_date": birth_date,
        "marketing_opt_in": marketing_opt_in,
        "preferred_language": preferred_language,
    }
    if email_opt_out is not None:
        values["email_opt_out"] = email_opt_out
    with transaction.atomic():
        stored = Customer.objects.select_for_update().get(pk=customer.pk)
        changed = [name for name, value in values.items() if getattr(stored, name) != value]
        for name in changed:
            setattr(stored, name, values[name])
        if "birth_date" in changed:
            stored.birth_date_changed_at = timezone.now()
            stored.birth_date_changed_by = changed_by if changed_by and changed_by.is_authenticated else None
            changed += ["birth_date_changed_at", "birth_date_changed_by"]
        if not changed:
            return []
        try:
            with transaction.atomic():
                stored.save(update_fields=[*changed, "updated_at"])
        except IntegrityError as exc:
            raise conflict("email_taken", "Another customer of this merchant has that email address.") from exc
        if any(name in PASS_VISIBLE_CUSTOMER_FIELDS for name in changed):
            loyalty_services.refresh_customer_passes(customer_id=stored.pk)
    for name in (*values, "birth_date_changed_at", "birth_date_changed_by", "updated_at"):
        setattr(customer, name, getattr(stored, name))
    return changed


# --- the "your card" emails ---------------------------------------------------------------

CARD_LINK_EMAIL_COOLDOWN_SECONDS = 10 * 60


class CardEmail(StrEnum):
    WELCOME = "welcome"  # a new member: here is your card
    EXISTING = "existing"  # someone typed an email that already has a card: the link goes to the inbox only


def send_card_email(*, card: LoyaltyCard, kind: CardEmail) -> bool:
    """Queue the email with the link to the customer's card (the worker sends it).

    The link to an existing card goes out at most once per card every ten minutes, so a
    stranger typing someone's address again and again cannot flood their inbox (the page
    says the same thing either way). Returns whether an email was queued.
    """
    if kind == CardEmail.EXISTING:
        try:
            first = cache.add(f"customers:card-link-email:{card.pk}", 1, CARD_LINK_EMAIL_COOLDOWN_SECONDS)
        except Exception:  # noqa: BLE001 - cache down: send anyway, the per-address rate limit still holds
            logger.warning("Cache unavailable for the card-link email throttle", exc_info=True)
            first = True
        if not first:
            logger.info("Card-link email for card %s throttled", card.pk)
            return False
    merchant = card.merchant
    if kind == CardEmail.WELCOME:

        def subject() -> str:
            return gettext("Welcome to %(merchant)s: your loyalty card") % {"merchant": merchant.name}
    else:

        def subject() -> str:
            return gettext("Your %(merchant)s loyalty card") % {"merchant": merchant.name}

    queue_customer_email(
        card=card,
        template="card_link",
        kind=f"card_{kind}",
        subject=subject,
        context={"existing": kind == CardEmail.EXISTING},
    )
    return True
