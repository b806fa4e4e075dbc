"""Who may do what: the one home of role and store checks.

The staff API, the services, the admin and the pages ask here whether someone is the platform
operator, an owner, a manager (owners are managers too) of a merchant, or works at a store.
*What* they may see (tenant scoping) is merchants/selectors.py; *what they may do* is here.
"""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

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
    return staff.stores.filter(merchant_id=staff.merchant_id, is_active=True).order_by("code")
