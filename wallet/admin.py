from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Count, IntegerField, Max, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from loyalty.services.cards import id_slices
from merchants.admin_scoping import ReadOnlyScopedAdmin, ScopedTabularInline
from wallet.models import AppleDeviceRegistration, GoogleWalletClass, WalletPass, WalletUpdate
from wallet.outbox import schedule_pass_updates


class OperatorOnlyMixin:
    """Wallet internals (device registrations, Google classes, the update queue) are the platform
    operator's: a café owner has nothing to do with them, and "delivered" updates with no wallet
    configured only confused."""

    def has_module_permission(self, request):
        return request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser


def resend_cards(card_ids: list[int]) -> None:
    """Queue a full refresh of these cards' passes now (class included), through the outbox."""
    with transaction.atomic():
        for ids in id_slices(card_ids):
            GoogleWalletClass.objects.filter(program__cards__in=ids).delete()
            WalletUpdate.objects.filter(card_id__in=ids, status=WalletUpdate.Status.PENDING).update(
                next_attempt_at=timezone.now()
            )
        schedule_pass_updates(card_ids)


class RegistrationInline(ScopedTabularInline):
    model = AppleDeviceRegistration
    fk_name = "card"
    fields = ["device_library_identifier", "push_token", "created_at", "updated_at", "last_pushed_at"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    verbose_name_plural = "Apple devices registered for this pass"


@admin.register(WalletPass)
class WalletPassAdmin(ReadOnlyScopedAdmin):
    """Each card's wallet state: Google object, Apple serial and devices, last push, pending updates."""

    list_display = [
        "card_number",
        "customer",
        "merchant",
        "google_object_id",
        "apple_serial_number",
        "devices",
        "last_pushed",
        "pending_updates",
        "is_active",
    ]
    list_filter = ["is_active", ("google_object_id", admin.EmptyFieldListFilter)]
    search_fields = ["card_number", "apple_serial_number", "google_object_id", "customer__email"]
    list_select_related = ["customer", "merchant"]
    fields = [
        "card_number",
        "customer",
        "merchant",
        "program",
        "is_active",
        "deleted_at",
        "updated_at",
        "google_object_id",
        "apple_serial_number",
        "devices",
        "last_pushed",
        "pending_updates",
    ]
    readonly_fields = fields
    inlines = [RegistrationInline]
    actions = ["resend"]

    def get_queryset(self, request):
        delivered = WalletUpdate.objects.filter(card=OuterRef("pk"), status=WalletUpdate.Status.DELIVERED)
        pending = (
            WalletUpdate.objects.filter(card=OuterRef("pk"), status=WalletUpdate.Status.PENDING)
            .order_by()
            .values("card")
            .annotate(n=Count("pk"))
            .values("n")
        )
        devices = (
            AppleDeviceRegistration.objects.filter(card=OuterRef("pk"))
            .order_by()
            .values("card")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(
                _last_pushed=Subquery(
                    delivered.order_by().values("card").annotate(at=Max("delivered_at")).values("at")
                ),
                _pending=Coalesce(Subquery(pending, output_field=IntegerField()), 0),
                _devices=Coalesce(Subquery(devices, output_field=IntegerField()), 0),
            )
        )

    @admin.display(description="Apple devices", ordering="_devices")
    def devices(self, obj):
        return obj._devices

    @admin.display(description="Last pushed", ordering="_last_pushed")
    def last_pushed(self, obj):
        return obj._last_pushed or "—"

    @admin.display(description="Pending updates", ordering="_pending")
    def pending_updates(self, obj):
        url = reverse("admin:wallet_walletupdate_changelist") + f"?card__id__exact={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, obj._pending)

    @admin.action(description="Resend the wallet passes of the selected cards")
    def resend(self, request, queryset):
        card_ids = list(queryset.values_list("pk", flat=True))
        resend_cards(card_ids)
        self.message_user(request, f"Queued a wallet pass update for {len(card_ids)} card(s).", messages.SUCCESS)


@admin.register(AppleDeviceRegistration)
class AppleDeviceRegistrationAdmin(OperatorOnlyMixin, ReadOnlyScopedAdmin):
    list_display = ["device_library_identifier", "card", "created_at", "updated_at", "last_pushed_at"]
    search_fields = ["device_library_identifier", "card__card_number"]
    list_select_related = ["card"]
    date_hierarchy = "created_at"

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser


@admin.register(WalletUpdate)
class WalletUpdateAdmin(OperatorOnlyMixin, ReadOnlyScopedAdmin):
    list_display = ["card", "status", "attempts", "created_at", "next_attempt_at", "delivered_at", "last_error"]
    list_filter = ["status"]
    search_fields = ["card__card_number"]
    list_select_related = ["card"]
    date_hierarchy = "created_at"
    actions = ["resend"]

    @admin.action(description="Resend the wallet passes of these updates' cards now")
    def resend(self, request, queryset):
        card_ids = sorted(set(queryset.values_list("card_id", flat=True)))
        resend_cards(card_ids)
        self.message_user(request, f"Queued a wallet pass update for {len(card_ids)} card(s).", messages.SUCCESS)


@admin.register(GoogleWalletClass)
class GoogleWalletClassAdmin(OperatorOnlyMixin, ReadOnlyScopedAdmin):
    list_display = ["class_id", "program", "program_updated_at", "synced_at"]
    list_select_related = ["program__merchant"]
    search_fields = ["class_id", "program__name"]
