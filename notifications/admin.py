from django.contrib import admin, messages
from django.utils import timezone

from merchants.admin_scoping import ReadOnlyScopedAdmin
from merchants.authorization import is_operator
from notifications.models import OutboundEmail


@admin.register(OutboundEmail)
class OutboundEmailAdmin(ReadOnlyScopedAdmin):
    """The email queue, for the platform operator: what was sent, what waits, why it failed."""

    list_display = ["created_at", "kind", "to_address", "subject", "status", "attempts", "sent_at", "merchant"]
    list_filter = ["status", "kind"]
    search_fields = ["to_address", "subject"]
    list_select_related = ["merchant"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    actions = ["send_again_now"]

    def has_module_permission(self, request):
        return is_operator(request.user)

    def has_view_permission(self, request, obj=None):
        return is_operator(request.user)

    def has_change_permission(self, request, obj=None):
        # Read-only fields; the permission lets the operator run the action below.
        return is_operator(request.user)

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    @admin.action(description="Send the selected emails again now (pending or given up)")
    def send_again_now(self, request, queryset):
        from notifications.services import nudge_worker

        ids = list(queryset.exclude(status=OutboundEmail.Status.SENT).values_list("pk", flat=True))
        OutboundEmail.objects.filter(pk__in=ids).update(
            status=OutboundEmail.Status.PENDING, next_attempt_at=timezone.now()
        )
        for email_id in ids:
            nudge_worker(email_id)
        self.message_user(request, f"{len(ids)} email(s) queued to be sent now.", messages.SUCCESS)
