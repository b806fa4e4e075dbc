import datetime

import pytest
from django.utils import timezone

from core.errors import LoyaltyError
from merchants import pins
from merchants.models import StaffMember


def attempt(member, pin, now=None):
    with pytest.raises(LoyaltyError) as info:
        pins.verify_pin(staff=member, pin=pin, now=now)
    return info.value


def test_right_pin_passes_and_resets_counter(cashier):
    attempt(cashier, "9999")
    pins.verify_pin(staff=cashier, pin="1234")
    cashier.refresh_from_db()
    assert cashier.pin_failed_attempts == 0


def test_five_wrong_pins_lock_for_thirty_minutes(cashier, manager):
    for left in (4, 3, 2, 1):
        assert attempt(cashier, "0000").details["attempts_left"] == left
    error = attempt(cashier, "0000")
    assert (error.code, error.status) == ("pin_locked", 423)
    # Locked: even the right PIN is refused until it expires or a manager unlocks it.
    assert attempt(cashier, "1234").code == "pin_locked"
    later = timezone.now() + datetime.timedelta(minutes=31)
    pins.verify_pin(staff=cashier, pin="1234", now=later)


def test_manager_unlocks_cashier_cannot(cashier, manager, store):
    for _ in range(5):
        attempt(cashier, "0000")
    other_cashier = StaffMember.objects.create(
        user=type(cashier.user).objects.create(username="c2"), merchant=store.merchant
    )
    with pytest.raises(LoyaltyError) as info:
        pins.unlock_pin(staff=cashier, by_user=other_cashier.user)
    assert info.value.status == 403
    pins.unlock_pin(staff=cashier, by_user=manager.user)
    pins.verify_pin(staff=cashier, pin="1234")


@pytest.mark.parametrize("pin", ["", None, "12", "1234567", "12a4"])
def test_malformed_pins_are_refused(cashier, pin):
    assert attempt(cashier, pin).code in {"pin_required", "invalid_pin"}


def test_pin_hash_is_not_the_pin_and_salted():
    first, second = pins.make_pin_hash("1234"), pins.make_pin_hash("1234")
    assert first != second and "1234" not in first.split("$")[2]
    assert pins.pin_matches(first, "1234") and not pins.pin_matches(first, "1235")
