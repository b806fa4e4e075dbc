"""The admin base class that keeps a merchant's staff inside their merchant."""

from django.contrib import admin, messages
from django.contrib.admin.utils import get_fields_from_path
from django.db.models import Model, Q
from django.http import Http404, HttpRequest, HttpResponseRedirect

from merchants.authorization import is_operator, may_administer
from merchants.selectors import merchant_ids_for, merchant_path_for, scoped, staff_member_for


def scope_choices(db_field, request: HttpRequest, kwargs: dict) -> None:
    """Limit a form field's choices (foreign key or many-to-many) to the user's merchant's rows."""
    related = db_field.related_model
    try:
        merchant_path_for(related)
    except LookupError:
        return
    queryset = kwargs.get("queryset", related._default_manager.all())
    kwargs["queryset"] = queryset & scoped(related, request.user)


class ScopedRelatedFieldListFilter(admin.RelatedFieldListFilter):
    """A related-field filter offering only rows of the user's merchant.

    Django's own lists every row of the related model (``field.get_choices()``): another
    merchant's store names would show in the sidebar. A related model without a path to a
    merchant (a user) offers only the values found in the rows the user may see.
    """

    only_used_values = False

    def field_choices(self, field, request, model_admin):
        ordering = self.field_admin_ordering(field, request, model_admin)
        related: type[Model] = field.related_model
        limit = Q()
        try:
            visible = scoped(related, request.user) if merchant_ids_for(request.user) is not None else None
        except LookupError:  # no path to a merchant: what the visible rows point to
            visible, only_used = None, merchant_ids_for(request.user) is not None
        else:
            only_used = self.only_used_values
        if visible is not None:
            limit &= Q(pk__in=visible.values("pk"))
        if only_used:
            used = model_admin.get_queryset(request).distinct().values_list(f"{self.field_path}__pk", flat=True)
            limit &= Q(pk__in=used)
        return field.get_choices(include_blank=False, limit_choices_to=limit, ordering=ordering)

    def queryset(self, request, queryset):
        # A value the user was not offered (another merchant's store typed in the URL) finds nothing,
        # without PostgreSQL walking that store's rows in search of the user's merchant's.
        offered = {str(pk) for pk, _label in self.lookup_choices}
        if any(str(value) not in offered for value in self.lookup_val or ()):
            return queryset.none()
        return super().queryset(request, queryset)


class ScopedRelatedOnlyFieldListFilter(ScopedRelatedFieldListFilter):
    """``RelatedOnlyFieldListFilter``, scoped: the values found in the user's rows."""

    only_used_values = True


def scoped_list_filter(model: type[Model], spec):
    """The same ``list_filter`` entry with every relation filter replaced by its scoped version.

    Covers field names and paths (``"store"``, ``"card__store"``, ``"program__merchant"``) and
    ``(path, RelatedFieldListFilter or RelatedOnlyFieldListFilter or a subclass)`` tuples. A
    ``SimpleListFilter`` writes its own ``lookups()`` and must ask ``scoped()`` itself.
    """
    if isinstance(spec, str):
        field = get_fields_from_path(model, spec)[-1]
        return (spec, ScopedRelatedFieldListFilter) if field.is_relation else spec
    if isinstance(spec, (tuple, list)) and len(spec) == 2:
        path, filter_class = spec
        if (
            isinstance(filter_class, type)
            and issubclass(filter_class, admin.RelatedFieldListFilter)
            and not issubclass(filter_class, ScopedRelatedFieldListFilter)
        ):
            only = issubclass(filter_class, admin.RelatedOnlyFieldListFilter)
            base = ScopedRelatedOnlyFieldListFilter if only else ScopedRelatedFieldListFilter
            if filter_class not in (admin.RelatedFieldListFilter, admin.RelatedOnlyFieldListFilter):
                base = type(f"Scoped{filter_class.__name__}", (base, filter_class), {})
            return (path, base)
    return spec


class ScopedInlineMixin:
    """An inline for the merchant's staff: its choices scoped, its permissions those of the model's admin.

    Django asks an inline for model permissions (``loyalty.view_reward``…) that owners and
    managers do not hold, so without this an owner saw no rewards under a program. The
    registered admin of the inline's model answers instead (the ledger's is read-only), or the
    merchant-admin rule when the model has none.
    """

    def _model_admin(self):
        return self.admin_site._registry.get(self.model)

    def has_view_permission(self, request, obj=None):
        model_admin = self._model_admin()
        if model_admin is not None:
            return model_admin.has_view_permission(request)
        return may_administer(request.user)

    def has_add_permission(self, request, obj=None):
        model_admin = self._model_admin()
        if model_admin is not None:
            return model_admin.has_add_permission(request)
        return may_administer(request.user)

    def has_change_permission(self, request, obj=None):
        model_admin = self._model_admin()
        if model_admin is not None:
            return model_admin.has_change_permission(request)
        return may_administer(request.user)

    def has_delete_permission(self, request, obj=None):
        model_admin = self._model_admin()
        if model_admin is not None:
            return model_admin.has_delete_permission(request)
        return may_administer(request.user)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        scope_choices(db_field, request, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        scope_choices(db_field, request, kwargs)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class ScopedTabularInline(ScopedInlineMixin, admin.TabularInline):
    pass


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
        return may_administer(request.user)

    def has_view_permission(self, request, obj=None):
        return may_administer(request.user)

    def has_add_permission(self, request):
        return may_administer(request.user)

    def has_change_permission(self, request, obj=None):
        return may_administer(request.user)

    def has_delete_permission(self, request, obj=None):
        return may_administer(request.user)

    # -- choices: only the user's merchant's rows --
    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        scope_choices(db_field, request, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        scope_choices(db_field, request, kwargs)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    # -- new rows start on the user's merchant (the only choice they have) --
    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        member = staff_member_for(request.user)
        if member and "merchant" in {f.name for f in self.model._meta.fields}:
            initial.setdefault("merchant", member.merchant_id)
        return initial

    # -- a service refused the save: say why, and show the form again instead of "changed successfully" --
    def refuse(self, request, message: str) -> None:
        self.message_user(request, message, messages.ERROR)
        request._admin_save_refused = True

    def log_change(self, request, obj, message):
        if not getattr(request, "_admin_save_refused", False):
            return super().log_change(request, obj, message)

    def response_add(self, request, obj, post_url_continue=None):
        if getattr(request, "_admin_save_refused", False):
            return HttpResponseRedirect(request.get_full_path())
        return super().response_add(request, obj, post_url_continue)

    def response_change(self, request, obj):
        if getattr(request, "_admin_save_refused", False):
            return HttpResponseRedirect(request.get_full_path())
        return super().response_change(request, obj)

    # -- filters: a relation's choices are the user's merchant's rows (see scoped_list_filter) --
    def get_list_filter(self, request):
        filters = list(super().get_list_filter(request))
        if is_operator(request.user):
            path = merchant_path_for(self.model)
            if path and path not in filters:
                filters.insert(0, path)
        return [scoped_list_filter(self.model, spec) for spec in filters]


class ReadOnlyScopedAdmin(MerchantScopedAdmin):
    """Scoped and never editable in the admin (the ledger, the outbox)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
