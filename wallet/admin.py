from django.contrib import admin

from merchants.admin_scoping import ReadOnlyScopedAdmin
from wallet.models import AppleDeviceRegistration, WalletUpdate


@admin.register(AppleDeviceRegistration)
class AppleDeviceRegistrationAdmin(ReadOnlyScopedAdmin):
    list_display = ["device_library_identifier", "card", "created_at", "updated_at"]
    search_fields = ["device_library_identifier", "card__card_number"]
    list_select_related = ["card"]
    date_hierarchy = "created_at"

    def has_delete_permission(self, request, obj=None):
        return self.has_view_permission(request, obj)


@admin.register(WalletUpdate)
class WalletUpdateAdmin(ReadOnlyScopedAdmin):
    list_display = ["card", "status", "attempts", "created_at", "next_attempt_at", "delivered_at", "last_error"]
    list_filter = ["status"]
    search_fields = ["card__card_number"]
    list_select_related = ["card"]
    date_hierarchy = "created_at"
