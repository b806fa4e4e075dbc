"""API tokens of signed-in devices: issue, check, list and revoke.

A token is a random key given once to the device; the database keeps its SHA-256 only. It works
for ``LOYALTY_API_TOKEN_TTL_HOURS`` (a working day by default), until the device signs out or a
manager signs it out, while the user is active, and while the user's password is the one it was
issued under (the ``get_session_auth_hash()`` Django uses to end sessions on a password change),
so a password change signs every device out without anything else to remember.
"""

import datetime
import hashlib
import hmac
import secrets

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import LoyaltyError
from merchants.authorization import require_manager_of
from merchants.models import StaffMember, StaffToken

# last_used_at is written at most this often per token, so a busy till does not write on every call.
LAST_USED_PRECISION = datetime.timedelta(minutes=5)
# Expired or revoked tokens are kept this long (a manager sees what was signed out), then deleted.
KEEP_DEAD_TOKENS = datetime.timedelta(days=7)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def issue_token(
    *, user: AbstractBaseUser, device: str = "", now: datetime.datetime | None = None
) -> tuple[str, StaffToken]:
    """A new token for one device: ``(key, row)``. The key is shown once and never stored."""
    now = now or timezone.now()
    # The user's old dead tokens go here rather than in a scheduled job.
    StaffToken.objects.filter(user=user).filter(
        Q(expires_at__lt=now - KEEP_DEAD_TOKENS) | Q(revoked_at__lt=now - KEEP_DEAD_TOKENS)
    ).delete()
    key = secrets.token_urlsafe(32)
    token = StaffToken.objects.create(
        user=user,
        key_hash=key_hash(key),
        device=" ".join(str(device or "").split())[:100],
        password_hash=user.get_session_auth_hash(),
        expires_at=now + datetime.timedelta(hours=settings.LOYALTY_API_TOKEN_TTL_HOURS),
        last_used_at=now,
    )
    return key, token


def refusal(token: StaffToken, *, now: datetime.datetime | None = None) -> tuple[str, str] | None:
    """``(code, message)`` when the token no longer works, ``None`` when it does. Reads no row."""
    now = now or timezone.now()
    if token.revoked_at is not None:
        return "token_revoked", _("This device was signed out. Sign in again.")
    if token.expires_at <= now:
        return "token_expired", _("Your session on this device has expired. Sign in again.")
    if not token.user.is_active:
        return "authentication_failed", _("User inactive or deleted.")
    if not hmac.compare_digest(token.password_hash, token.user.get_session_auth_hash()):
        return "token_revoked", _("Your password was changed since this device signed in. Sign in again.")
    return None


def touch(token: StaffToken, *, now: datetime.datetime | None = None) -> None:
    """Record that the token was used, at most every few minutes (one UPDATE then, none otherwise)."""
    now = now or timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_PRECISION:
        StaffToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


def live_tokens(*, user: AbstractBaseUser, now: datetime.datetime | None = None) -> list[StaffToken]:
    """The user's tokens that still work, newest first."""
    now = now or timezone.now()
    tokens = StaffToken.objects.filter(user=user, revoked_at__isnull=True, expires_at__gt=now).select_related("user")
    return [token for token in tokens if refusal(token, now=now) is None]


def _revoke(tokens: QuerySet[StaffToken], now: datetime.datetime) -> int:
    return tokens.filter(revoked_at__isnull=True, expires_at__gt=now).update(revoked_at=now)


def sign_out_device(*, token: StaffToken) -> int:
    """The device holding ``token`` signs itself out."""
    return _revoke(StaffToken.objects.filter(pk=token.pk), timezone.now())


def revoke_all(*, user: AbstractBaseUser) -> int:
    """Every device of ``user`` is signed out (deactivation, password change in the admin)."""
    return _revoke(StaffToken.objects.filter(user=user), timezone.now())


def sign_out_staff(*, staff: StaffMember, by_user: AbstractBaseUser, token_id: int | None = None) -> int:
    """A manager or owner of the staff member's merchant (or a superuser) signs devices out.

    All of the staff member's devices, or the one whose token id is ``token_id``. Returns how
    many were signed out.
    """
    require_manager_of(
        by_user, staff.merchant_id, _("Only a manager or the owner can sign a staff member's devices out.")
    )
    tokens = StaffToken.objects.filter(user_id=staff.user_id)
    if token_id is not None:
        tokens = tokens.filter(pk=token_id)
        if not tokens.exists():
            raise LoyaltyError("token_not_found", _("No such device for this staff member."), status=404)
    return _revoke(tokens, timezone.now())
