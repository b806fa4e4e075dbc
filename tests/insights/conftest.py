"""A hand-built ledger for the insights tests (../shared/SPEC.md, "Merchant insights and liability").

Two merchants; A has stores ``main`` and ``kiosk``, a program whose point is worth €0.05, three
cards and every kind of ledger row, placed around day boundaries in TIME_ZONE (Europe/Paris).
The expected figures are written out in EXPECTED, each from the definitions.
"""

import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from rest_framework.test import APIClient

from loyalty.models import LoyaltyCard, LoyaltyTransaction
from merchants.tokens import issue_token
from tests.factories import CustomerFactory, ProgramFactory, RewardFactory, StaffMemberFactory, StoreFactory

Type = LoyaltyTransaction.Type
PARIS = ZoneInfo("Europe/Paris")


def at(year, month, day, hour=12, minute=0) -> datetime.datetime:
    return datetime.datetime(year, month, day, hour, minute, tzinfo=PARIS)


def card_on(program, store, created):
    card = LoyaltyCard.objects.create(
        merchant=program.merchant,
        customer=CustomerFactory(merchant=program.merchant),
        program=program,
        enrolled_at_store=store,
    )
    LoyaltyCard.objects.filter(pk=card.pk).update(created_at=created)
    card.created_at = created
    return card


def row(card, type_, when, *, points=0, stamps=0, store=None, staff=None, reward=None, reason=""):
    """One ledger row, with the card's balances moved by the same deltas (the ledger invariant)."""
    card.points_balance += points
    card.stamp_count += stamps
    card.save(update_fields=["points_balance", "stamp_count"])
    return LoyaltyTransaction.objects.create(
        card=card,
        merchant=card.merchant,
        store=store,
        staff_user=staff.user if staff else None,
        type=type_,
        points_delta=points,
        stamps_delta=stamps,
        points_after=card.points_balance,
        stamps_after=card.stamp_count,
        reward=reward,
        reason=reason,
        created_at=when,
    )


@pytest.fixture
def ledger(db):
    program = ProgramFactory(
        merchant__name="Alpha Coffee", merchant__slug="alpha", point_value=Decimal("0.05"), welcome_bonus=10
    )
    main = StoreFactory(merchant=program.merchant, code="main", name="Main street")
    kiosk = StoreFactory(merchant=program.merchant, code="kiosk", name="Station kiosk")
    owner = StaffMemberFactory(merchant=program.merchant, role="owner", stores=[main, kiosk], user__username="olga")
    manager = StaffMemberFactory(merchant=program.merchant, role="manager", stores=[main, kiosk], user__username="max")
    cashier = StaffMemberFactory(merchant=program.merchant, stores=[main], user__username="carl")
    cashier2 = StaffMemberFactory(merchant=program.merchant, stores=[kiosk], user__username="kim")
    reward = RewardFactory(program=program, points_cost=15)

    # c1 enrolled at main before the period; works inside it.
    c1 = card_on(program, main, at(2026, 1, 5, 10))
    row(c1, Type.WELCOME_BONUS, at(2026, 1, 5, 10), points=10, store=main)
    row(c1, Type.STAMP, at(2026, 1, 9, 23, 59), stamps=1, store=main, staff=cashier)  # the day before: outside
    row(c1, Type.STAMP, at(2026, 1, 10, 0, 30), stamps=1, store=main, staff=cashier)  # 9 Jan 23:30 UTC: inside
    row(c1, Type.POINTS_EARN, at(2026, 1, 12, 9), points=20, store=main, staff=cashier)
    row(c1, Type.STAMP, at(2026, 1, 12, 9, 5), stamps=1, store=main, staff=cashier)
    row(c1, Type.STAMP_REDEEM, at(2026, 1, 13), stamps=-2, store=main, staff=cashier)
    row(c1, Type.POINTS_REDEEM, at(2026, 1, 15), points=-15, store=main, staff=cashier, reward=reward)
    row(c1, Type.POINTS_VOID, at(2026, 1, 16), points=-5, store=main, staff=cashier, reason="return")
    row(c1, Type.POINTS_ADJUST, at(2026, 1, 17), points=-3, store=kiosk, staff=manager, reason="=HYPERLINK(1)")
    row(c1, Type.POINTS_ADJUST, at(2026, 1, 18), points=7, store=kiosk, staff=manager, reason="goodwill")
    row(c1, Type.POINTS_EARN, at(2026, 2, 3), points=6, store=main, staff=cashier)  # after the period

    # c2 enrolled at the kiosk inside the period; its points expire; a visit on each side of midnight.
    c2 = card_on(program, kiosk, at(2026, 1, 11, 10))
    row(c2, Type.WELCOME_BONUS, at(2026, 1, 11, 10), points=10, store=kiosk)
    row(c2, Type.POINTS_EXPIRE, at(2026, 1, 19, 3), points=-10, reason="No activity")
    row(c2, Type.STAMP, at(2026, 1, 20, 23, 30), stamps=1, store=kiosk, staff=cashier2)  # inside
    row(c2, Type.POINTS_EARN, at(2026, 1, 21, 0, 30), points=30, store=kiosk, staff=cashier2)  # 20 Jan UTC: outside

    # c3: a visit 50 days before the period's end (active in 90 days, not in 30), deleted with 15 points.
    c3 = card_on(program, main, at(2025, 12, 1, 9))
    row(c3, Type.WELCOME_BONUS, at(2025, 12, 1, 9), points=10, store=main)
    row(c3, Type.POINTS_EARN, at(2025, 12, 1, 9, 5), points=5, store=main, staff=cashier)
    LoyaltyCard.objects.filter(pk=c3.pk).update(deleted_at=at(2026, 1, 25), is_active=False)

    # Merchant B, active in the same days, must never show.
    b_program = ProgramFactory(merchant__name="Zebra Bakery", merchant__slug="zebra")
    b_store = StoreFactory(merchant=b_program.merchant, code="zebra-main")
    b_owner = StaffMemberFactory(merchant=b_program.merchant, role="owner", stores=[b_store], user__username="zed")
    b_card = card_on(b_program, b_store, at(2026, 1, 12))
    row(b_card, Type.POINTS_EARN, at(2026, 1, 12), points=999, store=b_store, staff=b_owner)
    row(b_card, Type.STAMP, at(2026, 1, 13), stamps=1, store=b_store, staff=b_owner)

    return {
        "program": program,
        "main": main,
        "kiosk": kiosk,
        "owner": owner,
        "manager": manager,
        "cashier": cashier,
        "cards": (c1, c2, c3),
        "b_owner": b_owner,
        "b_store": b_store,
    }


def client_for(member) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {issue_token(user=member.user)[0]}")
    return client


@pytest.fixture
def owner_api(ledger):
    return client_for(ledger["owner"])
