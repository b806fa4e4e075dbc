import datetime

import pytest
from django.core import mail
from django.utils import timezone

from loyalty.models import LoyaltyCard
from tests.factories import CustomerFactory, ProgramFactory, StoreFactory, make_card
from tests.wallet.conftest import apple_wallet, google_fake, google_wallet, wallet_credentials  # noqa: F401

EXPIRY_DAYS = 365


@pytest.fixture
def program(db):
    """A hybrid program with a birthday bonus and points that expire (reminders 14 days before)."""
    return ProgramFactory(
        name="Coffee Club",
        birthday_bonus_points=100,
        birthday_bonus_stamps=1,
        points_expiry_days=EXPIRY_DAYS,
        expiry_reminder_days=14,
        stamps_target=5,
        stamp_reward_description="A free coffee",
        stamp_reward_description_fr="Un café offert",
        background_color="#7c2d12",
        foreground_color="#fff7ed",
    )


@pytest.fixture
def store(program):
    return StoreFactory(merchant=program.merchant, code="main", name="Main street")


def aged_card(program, *, birth_date=datetime.date(1990, 5, 17), issued_days_ago=60, as_of=None, **customer_fields):
    """A card issued ``issued_days_ago`` days before ``as_of`` (now) to a customer born on ``birth_date``."""
    customer = CustomerFactory(merchant=program.merchant, birth_date=birth_date, **customer_fields)
    card = make_card(program=program, customer=customer)
    issued = (as_of or timezone.now()) - datetime.timedelta(days=issued_days_ago)
    LoyaltyCard.objects.filter(pk=card.pk).update(created_at=issued, last_activity_at=issued)
    card.refresh_from_db()
    return card


def at_local(day: datetime.date, hour: int = 9) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour)))


@pytest.fixture
def outbox():
    mail.outbox = []
    return mail.outbox


@pytest.fixture
def card_factory(program, store):
    def make(**customer_fields):
        customer = CustomerFactory(merchant=program.merchant, **customer_fields)
        return make_card(program=program, store=store, customer=customer)

    return make
