"""A manager's approval of a cashier's large redemption or void (SPEC, "The till under pressure").

The program's ``approval_threshold_points`` (empty = none) is the most points a cashier may
redeem or void alone. Above it the request names an ``approver`` (username) and their
``approver_pin``: a manager who works at the store, or the owner. The approver's PIN is checked
before the operation's transaction (:func:`verify_approver`), so a wrong one counts against the
approver's lockout even though the operation is refused; the service then decides whether the
approval was needed (:func:`approval_for`) and the ledger row records the approver.
"""

from django.contrib.auth.models import AbstractBaseUser
from django.utils.translation import gettext as _

from core.errors import LoyaltyError
from loyalty.models import LoyaltyProgram
from merchants.authorization import manages_merchant
from merchants.models import StaffMember, Store
from merchants.pins import verify_pin


def approval_required(message: str, **details) -> LoyaltyError:
    return LoyaltyError("approval_required", message, status=403, details=details)


def verify_approver(*, merchant_id: int, store: Store | None, username: str, pin: str | None) -> StaffMember:
    """The approver named by a request, after checking their role, store and PIN.

    Someone who is not a manager of this store (a cashier, another merchant's manager, a manager
    of another store) is refused with ``approval_required`` without trying the PIN; a wrong PIN
    is ``invalid_pin`` and counts toward the approver's lockout (``pin_locked`` after five).
    """
    approver = (
        StaffMember.objects.select_related("user")
        .filter(merchant_id=merchant_id, user__username=username, user__is_active=True)
        .first()
    )
    works_here = approver is not None and (
        approver.role == StaffMember.Role.OWNER
        or (approver.is_manager and (store is None or approver.stores.filter(pk=store.pk).exists()))
    )
    if not works_here:
        raise approval_required(
            _("%(name)s cannot approve this: ask a manager of this store or the owner.") % {"name": username},
            approver=username,
        )
    verify_pin(staff=approver, pin=pin)
    return approver


def approval_for(
    *,
    program: LoyaltyProgram,
    points: int,
    staff_user: AbstractBaseUser | None,
    approver: StaffMember | None,
) -> AbstractBaseUser | None:
    """The user to record as ``approved_by``: None when no approval is needed, else the approver.

    Raise ``approval_required`` when a cashier goes above the threshold without an approver.
    Managers, owners and the system (no staff user: a task) need no approval.
    """
    threshold = program.approval_threshold_points
    if threshold is None or points <= threshold:
        return None
    if staff_user is None or manages_merchant(staff_user, program.merchant_id):
        return None
    if approver is None:
        raise approval_required(
            _("More than %(threshold)s points: a manager must approve with their name and PIN.")
            % {"threshold": threshold},
            threshold=threshold,
            points=points,
        )
    return approver.user
