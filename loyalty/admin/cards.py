"""The admin of loyalty cards: the list and its search, the card's recent ledger, the balance adjustment."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from core.errors import LoyaltyError
from loyalty import services
from loyalty.admin.programs import ACTIVE
from loyalty.admin_search import IndexedSearchAdmin, search_cards
from loyalty.models import LoyaltyCard
from merchants.admin_filters import titled

RECENT_LEDGER_ROWS = 20


class AdjustBalanceForm(forms.Form):
    points_delta = forms.IntegerField(
        initial=0,
        min_value=-services.MAX_POINTS_PER_OPERATION,
        max_value=services.MAX_POINTS_PER_OPERATION,
        help_text="Points to add (negative to remove).",
    )
    stamps_delta = forms.IntegerField(
        initial=0,
        min_value=-services.MAX_STAMPS_PER_ADJUSTMENT,
        max_value=services.MAX_STAMPS_PER_ADJUSTMENT,
        help_text="Stamps to add (negative to remove).",
    )
    reason = forms.CharField(max_length=255, help_text="Kept in the ledger.")


BALANCE_FIELDS = [
    "stamp_count",
    "lifetime_stamps",
    "rewards_redeemed",
    "points_balance",
    "lifetime_points_earned",
    "lifetime_points_redeemed",
    "lifetime_points_voided",
]


@admin.register(LoyaltyCard)
class LoyaltyCardAdmin(IndexedSearchAdmin):
    list_display = [
        "card_number",
        "customer",
        "merchant",
        "program",
        "stamp_count",
        "points_balance",
        "last_activity_at",
        "is_active",
        "deleted_at",
    ]
    list_filter = [
        titled("is_active", _("status"), **ACTIVE),
        titled("program__kind", _("program type")),
        titled("deleted_at", _("deletion"), empty=_("Live cards"), filled=_("Deleted cards")),
        titled("enrolled_at_store", _("store of enrollment")),
    ]
    list_select_related = ["customer", "merchant", "program__merchant"]  # a program's name shows its merchant
    # Newest first (Meta.ordering) and these columns: each has a (merchant, column) or unique index.
    sortable_by = ["card_number", "last_activity_at", "created_at"]
    operator_sortable_by = ["card_number"]
    actions = ["deactivate_cards", "reactivate_cards", "soft_delete_cards"]
    readonly_fields = [
        "merchant",
        "customer",
        "program",
        "card_number",
        "qr_code_data",
        *BALANCE_FIELDS,
        "adjust_link",
        "recent_ledger",
        "apple_serial_number",
        "google_object_id",
        "last_stamp_at",
        "last_points_at",
        "last_redemption_at",
        "last_activity_at",
        "deleted_at",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "merchant",
                    "customer",
                    "program",
                    "enrolled_at_store",
                    "card_number",
                    "qr_code_data",
                    "is_active",
                    "deleted_at",
                ]
            },
        ),
        ("Balances (change them with an adjustment)", {"fields": [*BALANCE_FIELDS, "adjust_link"]}),
        ("Recent ledger", {"fields": ["recent_ledger"]}),
        (
            "Activity",
            {
                "fields": [
                    "last_stamp_at",
                    "last_points_at",
                    "last_redemption_at",
                    "last_activity_at",
                    "created_at",
                    "updated_at",
                ]
            },
        ),
        ("Wallet", {"fields": ["apple_serial_number", "google_object_id"]}),
    ]

    def get_list_display(self, request):
        # A laptop screen: the merchant and the program are the same on every row for an owner.
        if request.user.is_superuser:
            return self.list_display
        return ["card_number", "customer", "stamp_count", "points_balance", "last_activity_at", "is_active"]

    def search_lookup(self, request, queryset, lookup, term):
        return search_cards(queryset, lookup, request.user)

    @admin.display(description=_("Recent ledger"))
    def recent_ledger(self, obj):
        """The card's last rows with who, where and why, and a link to all of them."""
        if not obj.pk:
            return "—"
        rows = list(
            obj.transactions.select_related("store", "staff_user").order_by("-created_at", "-id")[:RECENT_LEDGER_ROWS]
        )
        url = reverse("admin:loyalty_loyaltytransaction_changelist") + f"?card__id__exact={obj.pk}"
        if not rows:
            return _("No operations yet.")
        body = format_html_join(
            "",
            '<tr><td>{}</td><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td>'
            '<td class="num">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    timezone.localtime(t.created_at).strftime("%Y-%m-%d %H:%M"),
                    t.get_type_display(),
                    f"{t.stamps_delta:+d}" if t.stamps_delta else "",
                    f"{t.points_delta:+d}" if t.points_delta else "",
                    t.stamps_after,
                    t.points_after,
                    t.store.name if t.store else "",
                    t.staff_user.get_username() if t.staff_user else "",
                    t.reason,
                )
                for t in rows
            ),
        )
        return format_html(
            '<table class="recent-ledger"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th>'
            "<th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>{}</tbody></table>"
            '<p><a href="{}">{}</a></p>',
            _("When"),
            _("Operation"),
            _("Stamps"),
            _("Points"),
            _("Stamps after"),
            _("Points after"),
            _("Store"),
            _("Staff"),
            _("Reason"),
            body,
            url,
            _("The whole ledger of this card →"),
        )

    def history_view(self, request, object_id, extra_context=None):
        # "History" is the card's ledger first (what an owner means), then the admin's change log.
        card = self.get_object(request, object_id)
        extra = {"recent_ledger": self.recent_ledger(card), **(extra_context or {})}
        return super().history_view(request, object_id, extra_context=extra)

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.deleted_at is not None:
            readonly.append("is_active")  # a deleted card stays inactive
        return readonly

    def save_model(self, request, obj, form, change):
        # The active flag goes through the service: the wallet passes turn inactive (or active) too.
        try:
            changed = services.update_card(
                card=obj,
                is_active=form.cleaned_data.get("is_active", obj.is_active),
                enrolled_at_store=form.cleaned_data.get("enrolled_at_store", obj.enrolled_at_store),
            )
        except LoyaltyError as exc:
            self.refuse(request, exc.message)
        else:
            if changed:
                state = "active" if obj.is_active else "inactive"
                self.message_user(request, f"Card {obj.card_number} is {state}; its wallet passes will be updated.")

    def has_add_permission(self, request):
        # Cards are issued by enrollment or the customer's "Issue a card" action (welcome bonus included).
        return False

    def has_delete_permission(self, request, obj=None):
        # The ledger references cards; use the soft-delete action instead.
        return False

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "enrolled_at_store" and request.resolver_match:
            card_id = request.resolver_match.kwargs.get("object_id")
            card = self.get_queryset(request).filter(pk=card_id).first() if card_id else None
            if card is not None:
                kwargs["queryset"] = card.merchant.stores.all()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description="Adjust")
    def adjust_link(self, obj):
        if not obj.pk:
            return "—"
        url = reverse("admin:loyalty_loyaltycard_adjust", args=[obj.pk])
        return format_html('<a class="button" href="{}">Adjust balance…</a>', url)

    def get_urls(self):
        return [
            path(
                "<path:object_id>/adjust/",
                self.admin_site.admin_view(self.adjust_view),
                name="loyalty_loyaltycard_adjust",
            ),
            *super().get_urls(),
        ]

    def adjust_view(self, request, object_id):
        card = self.get_queryset(request).filter(pk=object_id).first() if object_id.isdigit() else None
        if card is None:
            raise Http404("No such card.")
        if not self.has_change_permission(request, card):
            raise PermissionDenied
        form = AdjustBalanceForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                services.adjust_balance(
                    card=card,
                    staff_user=request.user,
                    reason=form.cleaned_data["reason"],
                    points_delta=form.cleaned_data["points_delta"],
                    stamps_delta=form.cleaned_data["stamps_delta"],
                )
            except LoyaltyError as exc:
                form.add_error(None, exc.message)
            else:
                self.message_user(request, f"Card {card.card_number} adjusted.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:loyalty_loyaltycard_change", args=[card.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Adjust card {card.card_number}",
            "card": card,
            "form": form,
            "opts": self.model._meta,
            "original": card,
        }
        return TemplateResponse(request, "admin/loyalty/adjust_balance.html", context)

    @admin.action(description="Deactivate the selected cards")
    def deactivate_cards(self, request, queryset):
        count = services.set_cards_active(card_ids=list(queryset.values_list("pk", flat=True)), active=False)
        self.message_user(
            request,
            ngettext("Deactivated %(n)d card.", "Deactivated %(n)d cards.", count) % {"n": count},
            messages.SUCCESS,
        )

    @admin.action(description="Reactivate the selected cards")
    def reactivate_cards(self, request, queryset):
        count = services.set_cards_active(card_ids=list(queryset.values_list("pk", flat=True)), active=True)
        self.message_user(
            request,
            ngettext("Reactivated %(n)d card.", "Reactivated %(n)d cards.", count) % {"n": count},
            messages.SUCCESS,
        )

    @admin.action(description="Delete the selected cards (kept in the ledger)")
    def soft_delete_cards(self, request, queryset):
        count = services.soft_delete_cards(card_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(
            request,
            ngettext("Deleted %(n)d card; its ledger stays.", "Deleted %(n)d cards; their ledger stays.", count)
            % {"n": count},
            messages.SUCCESS,
        )
