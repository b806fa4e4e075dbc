"""Who may use the staff API: staff of an active merchant; some actions need a manager."""

from django.utils.translation import gettext as _
from rest_framework.permissions import BasePermission

from core.errors import LoyaltyError
from merchants.authorization import is_manager
from merchants.models import StaffMember
from merchants.selectors import staff_member_for


def current_staff(request) -> StaffMember:
    """The signed-in user's membership (the permission below guarantees there is one)."""
    return staff_member_for(request.user)


class IsMerchantStaff(BasePermission):
    """Authenticated, a staff member, and the merchant is active.

    Anonymous requests get ``False`` (DRF answers 401); anyone else who is not staff of an
    active merchant gets a 403 saying why.
    """

    def has_permission(self, request, view) -> bool:
        user = request.user
        if user is None or not user.is_authenticated:
            return False
        member = staff_member_for(user)
        if member is None:
            raise LoyaltyError("not_staff", _("This account is not a staff member of any merchant."), status=403)
        if not member.merchant.is_active:
            raise LoyaltyError("merchant_inactive", f"{member.merchant.name} is not active.", status=403)
        return True


class IsManager(BasePermission):
    """A manager or the owner of the merchant."""

    message = "Only a manager or the owner can do this."
    code = "permission_denied"

    def has_permission(self, request, view) -> bool:
        return is_manager(request.user)
