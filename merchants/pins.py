"""Staff PINs: cheap keyed hashes, counted attempts and a lockout.

A 4–6 digit PIN has at most a million values, so a slow hash buys nothing; the
defence is the lockout and the rate limit. The PIN is keyed with SECRET_KEY and a
per-staff salt (HMAC-SHA256), so a leaked table alone does not reveal PINs.
"""

import datetime
import hashlib
import hmac
import re
import secrets

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from core.errors import LoyaltyError, invalid
from merchants.authorization import require_manager_of
from merchants.models import StaffMember

PIN_PATTERN = re.compile(r"^\d{4,6}$")
ALGORITHM = "hmac-sha256"


def validate_pin_format(pin: str) -> str:
    if not isinstance(pin, str) or not PIN_PATTERN.match(pin):
        raise invalid("invalid_pin_format", _("A PIN is 4 to 6 digits."))
    return pin


def make_pin_hash(pin: str) -> str:
    validate_pin_format(pin)
    salt = secrets.token_hex(8)
    return f"{ALGORITHM}${salt}${_digest(salt, pin)}"


def _digest(salt: str, pin: str) -> str:
    key = hashlib.sha256(f"staff-pin:{settings.SECRET_KEY}".encode()).digest()
    return hmac.new(key, f"{salt}:{pin}".encode(), hashlib.sha256).hexdigest()


def pin_matches(pin_hash: str, pin: str) -> bool:
    try:
        algorithm, salt, digest = pin_hash.split("$")
    except ValueError:
        return False
    return algorithm == ALGORITHM and hmac.compare_digest(digest, _digest(salt, pin))


def set_pin(*, staff: StaffMember, pin: str) -> None:
    staff.pin_hash = make_pin_hash(pin)
    staff.pin_failed_attempts = 0
    staff.pin_locked_until = None
    staff.save(update_fields=["pin_hash", "pin_failed_attempts", "pin_locked_until"])


def proves_pin(staff: StaffMember, pin: str | None, now: datetime.datetime | None = None) -> bool:
    """Whether the staff row in hand settles it: the right PIN, not locked, no failures to clear.

    No query: the row is the one the token loaded moments ago. Anything else (a wrong PIN, a
    lockout, failures to reset) is for ``verify_pin``, which reads the row under lock and counts.
    """
    now = now or timezone.now()
    return (
        isinstance(pin, str)
        and bool(staff.pin_hash)
        and not staff.pin_failed_attempts
        and not (staff.pin_locked_until and staff.pin_locked_until > now)
        and PIN_PATTERN.match(pin) is not None
        and pin_matches(staff.pin_hash, pin)
    )


def verify_pin(*, staff: StaffMember, pin: str | None, now: datetime.datetime | None = None) -> None:
    """Raise unless ``pin`` is this staff member's PIN; count failures, lock after five."""
    now = now or timezone.now()
    if not pin:
        raise LoyaltyError("pin_required", _("Enter your staff PIN."), status=400)
    with transaction.atomic():
        locked = StaffMember.objects.select_for_update().get(pk=staff.pk)
        if locked.pin_locked_until and locked.pin_locked_until > now:
            raise _locked_error(locked.pin_locked_until)
        if not locked.pin_hash:
            raise LoyaltyError("pin_not_set", _("You have no PIN yet; ask a manager to set one."), status=403)
        if isinstance(pin, str) and PIN_PATTERN.match(pin) and pin_matches(locked.pin_hash, pin):
            if locked.pin_failed_attempts or locked.pin_locked_until:
                StaffMember.objects.filter(pk=locked.pk).update(pin_failed_attempts=0, pin_locked_until=None)
            return
        attempts = locked.pin_failed_attempts + 1
        lock_until = None
        if attempts >= settings.LOYALTY_PIN_MAX_ATTEMPTS:
            lock_until = now + datetime.timedelta(minutes=settings.LOYALTY_PIN_LOCK_MINUTES)
            attempts = 0
        StaffMember.objects.filter(pk=locked.pk).update(pin_failed_attempts=attempts, pin_locked_until=lock_until)
    # Raised after the transaction so the counted attempt is committed.
    if lock_until is not None:
        raise _locked_error(lock_until)
    remaining = settings.LOYALTY_PIN_MAX_ATTEMPTS - attempts
    raise LoyaltyError(
        "invalid_pin",
        ngettext(
            "Wrong PIN. %(count)d attempt left before it locks.",
            "Wrong PIN. %(count)d attempts left before it locks.",
            remaining,
        )
        % {"count": remaining},
        status=403,
        details={"attempts_left": remaining},
    )


def unlock_pin(*, staff: StaffMember, by_user) -> None:
    """A manager or owner of the same merchant (or a superuser) lifts someone else's PIN lockout.

    Nobody lifts their own: the lockout is what stops a stolen or guessed account from trying
    more PINs, so a colleague must do it.
    """
    if staff.user_id == by_user.pk:
        raise LoyaltyError(
            "cannot_unlock_own_pin", _("You cannot unlock your own PIN; ask another manager or the owner."), status=403
        )
    require_manager_of(by_user, staff.merchant_id, "Only a manager or the owner can unlock a PIN.")
    StaffMember.objects.filter(pk=staff.pk).update(pin_failed_attempts=0, pin_locked_until=None)


def _locked_error(until: datetime.datetime) -> LoyaltyError:
    minutes = max(1, int((until - timezone.now()).total_seconds() // 60) + 1)
    return LoyaltyError(
        "pin_locked",
        ngettext(
            "Too many wrong PINs: locked for %(count)d more minute. A manager can unlock it.",
            "Too many wrong PINs: locked for %(count)d more minutes. A manager can unlock it.",
            minutes,
        )
        % {"count": minutes},
        status=423,
        details={"locked_until": until.isoformat()},
    )
