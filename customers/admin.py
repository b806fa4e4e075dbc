from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from core.errors import LoyaltyError
from customers.admin_privacy import CustomerPrivacyAdminMixin
from customers.models import Customer
from customers.services import update_customer
from loyalty import services
from loyalty.admin_search import IndexedSearchAdmin, search_customers
from loyalty.models import LoyaltyCard, LoyaltyProgram
from merchants.admin_filters import titled
from merchants.admin_scoping import ScopedTabularInline


class CardInline(ScopedTabularInline):
    model = LoyaltyCard
    fields = [
        "card_number",
        "program",
        "stamp_count",
        "points_balance",
        "lifetime_points_earned",
        "last_activity_at",
        "is_active",
        "deleted_at",
    ]
    readonly_fields = fields
    verbose_name_plural = _("Cards and balances")
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True


@admin.register(Customer)
class CustomerAdmin(CustomerPrivacyAdminMixin, IndexedSearchAdmin):
    list_display = [
        "full_name",
        "email",
        "phone",
        "birth_date",
        "merchant",
        "marketing_opt_in",
        "email_opt_out",
        "preferred_language",
        "created_at",
    ]
    list_filter = [
        titled("marketing_opt_in", _("marketing consent"), yes=_("Opted in"), no=_("Not opted in")),
        titled("preferred_language", _("language")),
        titled("created_at", _("join date")),
        titled("email_opt_out", _("emails"), yes=_("Switched off"), no=_("Allowed")),
        ("erased_at", admin.EmptyFieldListFilter),
    ]
    list_select_related = ["merchant"]
    # Newest first, and sorted only by columns with a (merchant, column) index (customers/models.py). Not by
    # name: a name search walked the name index from "A" to the matches ("Mart…") before finding a page.
    ordering = ["-created_at"]
    sortable_by = ["email", "phone", "created_at"]
    readonly_fields = [
        "terms_accepted_at",
        "birth_date_changed_at",
        "birth_date_changed_by",
        "created_at",
        "updated_at",
        "erased_at",
        "privacy_links",
    ]
    inlines = [CardInline]
    actions = ["issue_cards", "erase_customers"]
    change_list_template = "admin/customers/customer/change_list.html"

    def get_list_display(self, request):
        if request.user.is_superuser:
            return self.list_display
        return [name for name in self.list_display if name not in ("merchant", "preferred_language")]

    @admin.display(description="Name", ordering="last_name")
    def full_name(self, obj):
        return obj.full_name

    def search_lookup(self, request, queryset, lookup, term):
        return search_customers(queryset, lookup, request.user)

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            readonly.insert(0, "merchant")  # the customer's cards belong to that merchant
        return readonly

    def save_model(self, request, obj, form, change):
        if not change:
            obj.email = obj.email.strip().lower()
            super().save_model(request, obj, form, change)  # no card yet: nothing on a pass
            return
        # The service refreshes the wallet passes when the name changed and records who
        # changed the birth date.
        data = form.cleaned_data
        try:
            update_customer(
                customer=obj,
                changed_by=request.user,
                first_name=data.get("first_name", obj.first_name),
                last_name=data.get("last_name", obj.last_name),
                email=data.get("email", obj.email),
                phone=data.get("phone", obj.phone),
                birth_date=data.get("birth_date", obj.birth_date),
                marketing_opt_in=data.get("marketing_opt_in", obj.marketing_opt_in),
                preferred_language=data.get("preferred_language", obj.preferred_language),
                email_opt_out=data.get("email_opt_out", obj.email_opt_out),
            )
        except LoyaltyError as exc:
            self.refuse(request, exc.message)

    @admin.action(description="Issue a card on the merchant's active program")
    def issue_cards(self, request, queryset):
        issued = 0
        for customer in queryset.select_related("merchant"):
            program = LoyaltyProgram.objects.filter(merchant=customer.merchant, is_active=True).first()
            if program is None:
                self.message_user(request, f"{customer.merchant} has no active program.", messages.ERROR)
                continue
            try:
                services.issue_card(customer=customer, program=program)
            except LoyaltyError as exc:
                self.message_user(request, f"{customer}: {exc.message}", messages.WARNING)
            else:
                issued += 1
        if issued:
            self.message_user(
                request, ngettext("Issued %(n)d card.", "Issued %(n)d cards.", issued) % {"n": issued}, messages.SUCCESS
            )
