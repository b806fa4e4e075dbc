"""The admin of alerts: owners and managers see them and acknowledge them."""

from django.contrib import admin, messages

from core.errors import LoyaltyError
from loyalty.models import Alert
from loyalty.services.alerts import acknowledge_alert, describe
from merchants.admin_scoping import ReadOnlyScopedAdmin


class AcknowledgedFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "acknowledged"

    def lookups(self, request, model_admin):
        return [("no", "To look at"), ("yes", "Acknowledged")]

    def queryset(self, request, queryset):
        if self.value() in ("no", "yes"):
            return queryset.filter(acknowledged_at__isnull=self.value() == "no")
        return queryset


@admin.register(Alert)
class AlertAdmin(ReadOnlyScopedAdmin):
    """Owners and managers see their merchant's alerts and acknowledge them (loyalty/services/alerts.py)."""

    list_display = ["created_at", "kind", "what", "acknowledged_by", "acknowledged_at"]
    list_filter = [AcknowledgedFilter, "kind", "created_at"]
    list_select_related = ["card", "staff", "acknowledged_by"]
    search_fields = ["card__card_number", "staff__username"]
    date_hierarchy = "created_at"
    actions = ["acknowledge"]

    @admin.display(description="what was found")
    def what(self, alert: Alert) -> str:
        return describe(alert)

    @admin.action(description="Acknowledge the selected alerts")
    def acknowledge(self, request, queryset):
        count = 0
        for alert in queryset.filter(acknowledged_at__isnull=True):
            try:
                acknowledge_alert(alert=alert, by_user=request.user)
            except LoyaltyError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                return
            count += 1
        self.message_user(request, f"Acknowledged {count} alert(s).", messages.SUCCESS)
