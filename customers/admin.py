from django.contrib import admin, messages

from customers.models import Customer
from loyalty import services
from loyalty.errors import LoyaltyError
from loyalty.models import LoyaltyCard, LoyaltyProgram
from merchants.admin_scoping import MerchantScopedAdmin


class CardInline(admin.TabularInline):
    model = LoyaltyCard
    fields = ["card_number", "program", "stamp_count", "points_balance", "is_active", "deleted_at"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True


@admin.register(Customer)
class CustomerAdmin(MerchantScopedAdmin):
    list_display = [
        "full_name",
        "email",
        "phone",
        "birth_date",
        "merchant",
        "marketing_opt_in",
        "preferred_language",
        "created_at",
    ]
    list_filter = ["marketing_opt_in", "preferred_language", "created_at"]
    search_fields = ["first_name", "last_name", "email", "phone", "cards__card_number"]
    list_select_related = ["merchant"]
    date_hierarchy = "created_at"
    readonly_fields = ["terms_accepted_at", "created_at", "updated_at"]
    inlines = [CardInline]
    actions = ["issue_cards"]

    @admin.display(description="Name", ordering="last_name")
    def full_name(self, obj):
        return obj.full_name

    def save_model(self, request, obj, form, change):
        obj.email = obj.email.strip().lower()
        super().save_model(request, obj, form, change)

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
            self.message_user(request, f"Issued {issued} card(s).", messages.SUCCESS)
