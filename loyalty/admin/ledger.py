"""The admin of the ledger: read-only, newest first, searched by card, customer or order reference."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from loyalty.admin_search import LEDGER_SEARCH_HELP, MAX_LEDGER_CARDS, IndexedSearchAdmin, search_ledger
from loyalty.models import LoyaltyTransaction
from merchants.admin_filters import titled
from merchants.admin_scoping import ReadOnlyScopedAdmin


@admin.register(LoyaltyTransaction)
class LoyaltyTransactionAdmin(IndexedSearchAdmin, ReadOnlyScopedAdmin):
    list_display = [
        "created_at",
        "type",
        "card",
        "stamps_delta",
        "points_delta",
        "stamps_after",
        "points_after",
        "purchase_amount",
        "order_reference",
        "store",
        "staff_user",
        "approved_by",
    ]
    list_filter = [titled("type", _("operation")), titled("store", _("store")), titled("created_at", _("date"))]

    def get_list_display(self, request):
        if request.user.is_superuser:
            return self.list_display
        return ["created_at", "type", "card", "stamps_delta", "points_delta", "purchase_amount", "store", "staff_user"]

    search_help_text = LEDGER_SEARCH_HELP
    list_select_related = ["card", "store", "staff_user", "approved_by"]
    # Newest first (Meta.ordering) on the (merchant, created_at) index, or the created_at one for the operator;
    # no other column sorts 10 million rows.
    sortable_by = ["created_at"]
    operator_ordering = None
    operator_sortable_by = ["created_at"]

    def search_lookup(self, request, queryset, lookup, term):
        rows, more_cards = search_ledger(queryset, lookup, request.user, term)
        if more_cards:
            self.note(
                request,
                _(
                    "More than %(count)s cards match “%(term)s”: these are the operations of the %(count)s "
                    "most recently active. Type more of the name, or a card number, an email or a phone number."
                )
                % {"count": MAX_LEDGER_CARDS, "term": term},
            )
        return rows
