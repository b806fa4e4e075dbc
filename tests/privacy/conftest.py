from decimal import Decimal

import pytest

from tests.factories import ProgramFactory, StaffMemberFactory, StoreFactory
from tests.wallet.conftest import (  # noqa: F401 - the loopback wallet fakes, used by the erase tests
    apns,
    apple_wallet,
    google_fake,
    google_wallet,
    wallet_credentials,
)


@pytest.fixture
def shop(db):
    """A hybrid program (welcome bonus on, to show imports get none), a store, the owner, a manager, a cashier."""
    program = ProgramFactory(
        kind="hybrid",
        welcome_bonus=50,
        stamps_target=10,
        stamp_reward_description="a free coffee",
        points_per_euro=Decimal("1.00"),
        background_color="#7c2d12",
        foreground_color="#fef3c7",
    )
    merchant = program.merchant
    store = StoreFactory(merchant=merchant, code="main", name="Main street", address="1 Main street")
    return {
        "program": program,
        "merchant": merchant,
        "store": store,
        "owner": StaffMemberFactory(merchant=merchant, stores=[store], role="owner"),
        "manager": StaffMemberFactory(merchant=merchant, stores=[store], role="manager"),
        "cashier": StaffMemberFactory(merchant=merchant, stores=[store], role="cashier"),
    }


def csv_bytes(*lines: str, bom: bool = False, delimiter: str = ",", newline: str = "\n") -> bytes:
    text = newline.join(line.replace(",", delimiter) for line in lines) + newline
    return (("\ufeff" if bom else "") + text).encode()
