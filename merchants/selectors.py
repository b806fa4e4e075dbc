"""What a user may see: the one home of tenant scoping.

The admin, the API and the pages all ask here, so an object outside the user's
merchant is invisible (and a 404) everywhere.
"""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Model, QuerySet

from merchants.models import Merchant, StaffMember


def staff_member_for(user: AbstractBaseUser | None) -> StaffMember | None:
    """The user's staff membership (with its merchant), read once per user object.

    API token authentication loads it with the user (``select_related``); otherwise, as for
    a session user, it is read here and cached on the user for the rest of the request.
    """
    if user is None or not user.is_authenticated:
        return None
    if not hasattr(user, "_staff_member_cache"):
        if user._meta.get_field("staff_member").is_cached(user):
            member = getattr(user, "staff_member", None)  # None: select_related found no row
        else:
            member = StaffMember.objects.select_related("merchant").filter(user=user).first()
        user._staff_member_cache = member
    return user._staff_member_cache


def merchant_ids_for(user: AbstractBaseUser | None) -> list[int] | None:
    """Merchant ids the user may see; ``None`` means all (platform operator)."""
    if user is not None and user.is_authenticated and user.is_superuser:
        return None
    member = staff_member_for(user)
    return [member.merchant_id] if member else []


def scope_to_user(queryset: QuerySet, user: AbstractBaseUser | None, merchant_path: str) -> QuerySet:
    """Filter ``queryset`` to the user's merchant through ``merchant_path`` (``""`` for Merchant)."""
    ids = merchant_ids_for(user)
    if ids is None:
        return queryset
    lookup = f"{merchant_path}__in" if merchant_path else "pk__in"
    return queryset.filter(**{lookup: ids})


def merchant_path_for(model: type[Model]) -> str:
    """The lookup from ``model`` to its merchant, declared on the model or derived."""
    if model is Merchant:
        return ""
    path = getattr(model, "merchant_path", None)
    if path is not None:
        return path
    field_names = {f.name for f in model._meta.get_fields()}
    if "merchant" in field_names:
        return "merchant"
    raise LookupError(f"{model.__name__} has no path to a merchant; declare merchant_path on it.")


def scoped(model: type[Model], user: AbstractBaseUser | None) -> QuerySet:
    return scope_to_user(model._default_manager.all(), user, merchant_path_for(model))
