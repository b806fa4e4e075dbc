from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from core.errors import LoyaltyError
from loyalty.services import update_merchant
from merchants import pins, tokens
from merchants.admin_filters import titled
from merchants.admin_posters import StorePosterAdminMixin
from merchants.admin_scoping import MerchantScopedAdmin
from merchants.authorization import is_operator, is_owner, may_administer
from merchants.models import Merchant, StaffMember, Store


@admin.register(Merchant)
class MerchantAdmin(MerchantScopedAdmin):
    list_display = ["name", "slug", "is_active", "enrollment_open", "created_at"]
    list_filter = [
        titled("is_active", _("status"), yes=_("Active"), no=_("Inactive")),
        titled("enrollment_open", _("enrollment"), yes=_("Open"), no=_("Closed")),
    ]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return is_operator(request.user)

    def has_delete_permission(self, request, obj=None):
        return is_operator(request.user)

    def view_on_site(self, obj):
        return reverse("customers:join", args=[obj.slug])

    def get_prepopulated_fields(self, request, obj=None):
        return self.prepopulated_fields if is_operator(request.user) else {}

    def get_readonly_fields(self, request, obj=None):
        # Only the operator switches a merchant on or off or changes its public slug.
        return [] if is_operator(request.user) else ["slug", "is_active"]

    def save_model(self, request, obj, form, change):
        if not change:
            super().save_model(request, obj, form, change)
            return
        # The merchant's name is on every wallet pass: the service refreshes them when it changes.
        update_merchant(merchant=obj)


@admin.register(Store)
class StoreAdmin(StorePosterAdminMixin, MerchantScopedAdmin):
    list_display = ["name", "code", "merchant", "is_active", "created_at"]
    list_filter = [titled("is_active", _("status"), yes=_("Active"), no=_("Inactive"))]
    search_fields = ["name", "code", "address"]
    list_select_related = ["merchant"]
    readonly_fields = ["poster_link"]
    actions = ["print_posters"]


class StaffMemberForm(forms.ModelForm):
    """Creates or edits the staff member and its login in one form."""

    username = forms.CharField(max_length=150)
    email = forms.EmailField(required=False)
    password = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        required=False,
        help_text="Required for a new staff member; leave empty to keep the current password.",
    )
    deactivated = forms.BooleanField(
        required=False,
        help_text="Ticked: this person can no longer sign in (admin, POS, API) and every device they use is "
        "signed out. Untick to let them back in.",
    )
    pin = forms.RegexField(
        regex=r"^\d{4,6}$",
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="4 to 6 digits. Leave empty to keep the current PIN.",
        error_messages={"invalid": "A PIN is 4 to 6 digits."},
    )

    class Meta:
        model = StaffMember
        fields = ["merchant", "role", "stores"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["username"].initial = self.instance.user.username
            self.fields["email"].initial = self.instance.user.email
            self.fields["deactivated"].initial = not self.instance.user.is_active

    def clean_username(self):
        username = self.cleaned_data["username"].strip()
        users = get_user_model().objects.filter(username__iexact=username)
        if self.instance.pk:
            users = users.exclude(pk=self.instance.user_id)
        if users.exists():
            raise forms.ValidationError("That username is taken.")
        return username

    editor_id: int | None = None

    def clean(self):
        cleaned = super().clean()
        merchant = cleaned.get("merchant")
        stores = cleaned.get("stores")
        if merchant and stores and any(store.merchant_id != merchant.pk for store in stores):
            self.add_error("stores", "Pick stores of this staff member's merchant.")
        if cleaned.get("deactivated") and self.instance.pk and self.instance.user_id == self.editor_id:
            self.add_error("deactivated", "You cannot deactivate yourself.")
        password = cleaned.get("password")
        if not self.instance.pk and not password:
            self.add_error("password", "A new staff member needs a password.")
        if password:
            try:
                validate_password(password)
            except forms.ValidationError as exc:
                self.add_error("password", exc)
        return cleaned

    @transaction.atomic
    def save(self, commit=True):
        member = super().save(commit=False)
        user = member.user if member.pk else get_user_model()(is_active=True)
        user.username = self.cleaned_data["username"]
        user.email = self.cleaned_data.get("email", "")
        # Owners and managers use the admin; cashiers use the POS only.
        user.is_staff = member.role in (StaffMember.Role.OWNER, StaffMember.Role.MANAGER)
        password_changed = bool(self.cleaned_data.get("password")) and user.pk is not None
        if self.cleaned_data.get("password"):
            user.set_password(self.cleaned_data["password"])
        user.is_active = not self.cleaned_data.get("deactivated")
        user.save()
        if password_changed or not user.is_active:
            # Their tokens would fail anyway (password hash, inactive user); mark them signed out.
            tokens.revoke_all(user=user)
        member.user = user
        if self.cleaned_data.get("pin"):
            member.pin_hash = pins.make_pin_hash(self.cleaned_data["pin"])
            member.pin_failed_attempts = 0
            member.pin_locked_until = None
        member.save()
        self.save_m2m()
        return member


@admin.register(StaffMember)
class StaffMemberAdmin(MerchantScopedAdmin):
    form = StaffMemberForm
    list_display = ["user", "merchant", "role", "store_codes", "has_pin", "pin_locked_until", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__username", "user__email", "user__first_name", "user__last_name"]
    list_select_related = ["user", "merchant"]
    filter_horizontal = ["stores"]
    readonly_fields = ["pin_failed_attempts", "pin_locked_until"]
    fields = ["username", "email", "password", "deactivated", "merchant", "role", "stores", "pin", *readonly_fields]
    actions = ["unlock_pins", "sign_out_devices"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)  # a new class on every call
        form.editor_id = request.user.pk  # nobody deactivates the account they are signed in with
        return form

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("stores")

    @admin.display(description="Stores")
    def store_codes(self, obj):
        return ", ".join(store.code for store in obj.stores.all()) or "—"

    @admin.display(boolean=True, description="PIN set")
    def has_pin(self, obj):
        return obj.has_pin

    def _is_owner(self, request):
        return is_operator(request.user) or is_owner(request.user)

    # Managers see the team; only the owner (or operator) hires, edits and removes.
    def has_add_permission(self, request):
        return self._is_owner(request)

    def has_change_permission(self, request, obj=None):
        return self._is_owner(request)

    def has_delete_permission(self, request, obj=None):
        return self._is_owner(request) and not (obj is not None and obj.user_id == request.user.pk)

    @admin.action(description="Unlock the PIN of the selected staff")
    def unlock_pins(self, request, queryset):
        unlocked = 0
        for member in queryset:
            try:
                pins.unlock_pin(staff=member, by_user=request.user)
            except LoyaltyError as exc:
                self.message_user(request, f"{member}: {exc.message}", messages.ERROR)
            else:
                unlocked += 1
        if unlocked:
            self.message_user(
                request,
                ngettext("Unlocked %(n)d PIN.", "Unlocked %(n)d PINs.", unlocked) % {"n": unlocked},
                messages.SUCCESS,
            )

    @admin.action(description="Sign out of every device")
    def sign_out_devices(self, request, queryset):
        signed_out = 0
        for member in queryset:
            try:
                signed_out += tokens.sign_out_staff(staff=member, by_user=request.user)
            except LoyaltyError as exc:
                self.message_user(request, f"{member}: {exc.message}", messages.ERROR)
                return
        self.message_user(
            request,
            ngettext("Signed out %(n)d device.", "Signed out %(n)d devices.", signed_out) % {"n": signed_out},
            messages.SUCCESS,
        )

    def get_actions(self, request):
        # Managers may unlock PINs and sign devices out even though they cannot edit staff.
        actions = super().get_actions(request)
        if not (may_administer(request.user)):
            actions.pop("unlock_pins", None)
            actions.pop("sign_out_devices", None)
        return actions
