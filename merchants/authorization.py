"""Who may do what: the one home of role and store checks.

The staff API, the services, the admin and the pages ask here whether someone is the platform
operator, an owner, a manager (owners are managers too) of a merchant, or works at a store.
*What* they may see (tenant scoping) is merchants/selectors.py; *what they may do* is here.
"""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from core.prepared import PreparedQuery
from merchants.models import StaffMember, Store
from merchants.selectors import staff_member_for


def is_operator(user: AbstractBaseUser | None) -> bool:
    """The platform operator (a superuser): sees and manages every merchant."""
    return bool(user is not None and user.is_authenticated and user.is_superuser)


def is_manager(user: AbstractBaseUser | None) -> bool:
    """An owner or manager of an active merchant."""
    member = staff_member_for(user)
    return bool(member and member.is_manager and member.merchant.is_active)


def is_owner(user: AbstractBaseUser | None) -> bool:
    member = staff_member_for(user)
    return bool(member and member.role == StaffMember.Role.OWNER and member.merchant.is_active)


def may_administer(user: AbstractBaseUser | None) -> bool:
    """May use the admin: the operator, or an owner or manager of an active merchant."""
    return is_operator(user) or is_manager(user)


def manages_merchant(user: AbstractBaseUser | None, merchant_id: int) -> bool:
    """The operator, or an owner or manager of that merchant."""
    if is_operator(user):
        return True
    member = staff_member_for(user)
    return bool(member and member.merchant_id == merchant_id and member.is_manager)


def require_manager_of(user: AbstractBaseUser | None, merchant_id: int, message: str) -> None:
    """Raise 403 ``permission_denied`` with ``message`` unless ``user`` manages that merchant."""
    if not manages_merchant(user, merchant_id):
        from core.errors import forbidden

        raise forbidden(message)


def stores_of(staff: StaffMember) -> QuerySet[Store]:
    """The active stores a staff member works at (and may operate the POS for)."""
    return _stores_of(staff.pk, staff.merchant_id)


def _stores_of(staff_id: int, merchant_id: int) -> QuerySet[Store]:
    return Store.objects.filter(staff=staff_id, merchant_id=merchant_id, is_active=True).order_by("code")


# Every balance change at the till asks one of these: compiled once per process (core/prepared.py).
_STORE_BY_CODE = PreparedQuery(
    lambda staff_id, merchant_id, code: _stores_of(staff_id, merchant_id).filter(code=code)[:1],
    staff_id=int,
    merchant_id=int,
    code=str,
)
_FIRST_TWO_STORES = PreparedQuery(
    lambda staff_id, merchant_id: _stores_of(staff_id, merchant_id)[:2], staff_id=int, merchant_id=int
)


def store_at(staff: StaffMember, code: str) -> Store | None:
    """The staff member's active store with this code, or None (not theirs, closed, unknown)."""
    found = _STORE_BY_CODE(staff_id=staff.pk, merchant_id=staff.merchant_id, code=code)
    return found[0] if found else None


def first_two_stores(staff: StaffMember) -> list[Store]:
    """Two of the staff member's active stores at most: enough to tell none, exactly one and several."""
    return _FIRST_TWO_STORES(staff_id=staff.pk, merchant_id=staff.merchant_id)
