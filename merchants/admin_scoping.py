"""The admin base class that keeps a merchant's staff inside their merchant."""

from django.contrib import admin
from django.http import Http404, HttpRequest

from merchants.selectors import merchant_path_for, scoped, staff_member_for


def is_merchant_admin(request: HttpRequest) -> bool:
    member = staff_member_for(request.user)
    return bool(member and member.is_manager and member.merchant.is_active)


class MerchantScopedAdmin(admin.ModelAdmin):
    """Lists, forms, choices and permissions limited to the user's merchant.

    The platform operator (superuser) sees everything. Owners and managers see their
    merchant only: another merchant's object is absent from lists and a 404 by URL,
    because every lookup starts from ``get_queryset``.
    """

    list_per_page = 50

    def get_queryset(self, request):
        return scoped(self.model, request.user).select_related(*self.list_select_related or ())

    def get_object(self, request, object_id, from_field=None):
        # Another merchant's object (or a typo) is a 404, not the admin's redirect to the index.
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404(f"No {self.opts.verbose_name} with id {object_id!r} here.")
        return obj

    # -- permissions: owners and managers of an active merchant, or the operator --
    def has_module_permission(self, request):
        return request.user.is_superuser or is_merchant_admin(request)

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser or is_merchant_admin(request)

    def has_add_permission(self, request):
        return request.user.is_superuser or is_merchant_admin(request)

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser or is_merchant_admin(request)

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser or is_merchant_admin(request)

    # -- choices: only the user's merchant's rows --
    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        self._scope_choices(db_field, request, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        self._scope_choices(db_field, request, kwargs)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def _scope_choices(self, db_field, request, kwargs):
        related = db_field.related_model
        try:
            merchant_path_for(related)
        except LookupError:
            return
        queryset = kwargs.get("queryset", related._default_manager.all())
        kwargs["queryset"] = queryset & scoped(related, request.user)

    # -- new rows start on the user's merchant (the only choice they have) --
    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        member = staff_member_for(request.user)
        if member and "merchant" in {f.name for f in self.model._meta.fields}:
            initial.setdefault("merchant", member.merchant_id)
        return initial

    def get_list_filter(self, request):
        filters = list(super().get_list_filter(request))
        if request.user.is_superuser:
            path = merchant_path_for(self.model)
            if path and path not in filters:
                filters.insert(0, path)
        return filters


class ReadOnlyScopedAdmin(MerchantScopedAdmin):
    """Scoped and never editable in the admin (the ledger, the outbox)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
