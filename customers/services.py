"""Enrollment: a customer joins a merchant's program and gets a card."""

import datetime
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from customers.models import Customer
from loyalty import services as loyalty_services
from loyalty.errors import LoyaltyError
from loyalty.models import LoyaltyCard, LoyaltyProgram
from merchants.models import Merchant, Store


@dataclass(frozen=True)
class Enrollment:
    card: LoyaltyCard
    created: bool


def active_program(merchant: Merchant) -> LoyaltyProgram | None:
    return LoyaltyProgram.objects.filter(merchant=merchant, is_active=True).first()


def enrollment_is_open(merchant: Merchant) -> bool:
    return merchant.is_active and merchant.enrollment_open and active_program(merchant) is not None


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
    with transaction.atomic():
        customer = Customer.objects.filter(merchant=merchant, email=email).first()
        if customer is None:
            try:
                with transaction.atomic():
                    customer = Customer.objects.create(
                        merchant=merchant,
                        first_name=first_name.strip(),
                        last_name=last_name.strip(),
                        email=email,
                        phone=phone,
                        birth_date=birth_date,
                        terms_accepted_at=timezone.now(),
                        marketing_opt_in=marketing_opt_in,
                        preferred_language=preferred_language,
                    )
            except IntegrityError:
                # A double submit created the customer a moment ago.
                customer = Customer.objects.get(merchant=merchant, email=email)
        existing = LoyaltyCard.objects.alive().filter(merchant=merchant, customer=customer).first()
        if existing is not None:
            return Enrollment(card=existing, created=False)
        try:
            card = loyalty_services.issue_card(customer=customer, program=program, store=store)
        except LoyaltyError as exc:
            if exc.code != "card_exists":
                raise
            return Enrollment(card=LoyaltyCard.objects.alive().get(merchant=merchant, customer=customer), created=False)
        return Enrollment(card=card, created=True)
