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
from loyalty.admin_search import (
    LEDGER_SEARCH_HELP,
    MAX_LEDGER_CARDS,
    IndexedSearchAdmin,
    search_cards,
    search_ledger,
)
from loyalty.models import Alert, LoyaltyCard, LoyaltyProgram, LoyaltyTransaction, Promotion, Reward, Tier
from loyalty.services.alerts import acknowledge_alert, describe
from merchants.admin_filters import titled
from merchants.admin_scoping import MerchantScopedAdmin, ReadOnlyScopedAdmin, ScopedTabularInline

ACTIVE = {"yes": _("Active"), "no": _("Inactive")}
RECENT_LEDGER_ROWS = 20


class RewardInline(ScopedTabularInline):
    model = Reward
    extra = 1
    fields = ["name", "description", "name_fr", "description_fr", "points_cost", "stamps_cost", "is_active"]


class TierInline(ScopedTabularInline):
    model = Tier
    extra = 0
    fields = ["name", "name_fr", "min_points_12m", "points_multiplier"]
    verbose_name_plural = (
        "Tiers (a card moves up at the earn that reaches a threshold, down only at the nightly review)"
    )


@admin.register(LoyaltyProgram)
class LoyaltyProgramAdmin(MerchantScopedAdmin):
    list_display = [
        "name",
        "merchant",
        "kind",
        "is_active",
        "stamps_target",
        "points_per_euro",
        "welcome_bonus",
        "points_expiry_days",
        "require_staff_pin",
    ]
    list_filter = [
        titled("kind", _("program type")),
        titled("is_active", _("status"), **ACTIVE),
        titled("require_staff_pin", _("staff PIN"), yes=_("Required"), no=_("Not required")),
    ]
    search_fields = ["name"]
    list_select_related = ["merchant"]
    inlines = [RewardInline, TierInline]
    fieldsets = [
        (None, {"fields": ["merchant", "name", "kind", "is_active", "require_staff_pin", "approval_threshold_points"]}),
        (
            "Stamps",
            {
                "fields": [
                    "stamps_target",
                    "stamp_reward_description",
                    "stamp_reward_description_fr",
                    "stamp_cooldown_minutes",
                    "max_stamps_per_day",
                ]
            },
        ),
        (
            "Points",
            {"fields": ["points_per_euro", "min_purchase", "welcome_bonus", "points_expiry_days", "point_value"]},
        ),
        (
            "Customer engagement",
            {
                "fields": ["birthday_bonus_points", "birthday_bonus_stamps", "expiry_reminder_days"],
                "description": "The birthday bonus is given once a year on the member's birthday (never within "
                "30 days of joining or of a birth-date change); reminders go before points expire.",
            },
        ),
        (
            "Wallet branding",
            {
                "fields": [
                    "logo_text",
                    "card_description",
                    "logo",
                    "background_color",
                    "foreground_color",
                    "label_color",
                ]
            },
        ),
    ]

    # An edit is stored by the service once its rewards are saved too (save_related), so what the
    # wallet passes show is refreshed once, for the program and its rewards together.
    def save_model(self, request, obj, form, change):
        if not change:
            super().save_model(request, obj, form, change)  # a new program has no cards yet

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if change:
            rewards_changed = any(formset.has_changed() for formset in formsets)
            cards = services.update_program(program=form.instance, rewards_changed=rewards_changed)
            if cards:
                self.message_user(
                    request,
                    ngettext(
                        "The wallet pass of %(n)d card will be updated.",
                        "The wallet passes of %(n)d cards will be updated.",
                        cards,
                    )
                    % {"n": cards},
                    messages.INFO,
                )


@admin.register(Reward)
class RewardAdmin(MerchantScopedAdmin):
    list_display = ["name", "program", "points_cost", "stamps_cost", "is_active"]
    list_filter = [titled("is_active", _("status"), **ACTIVE)]
    search_fields = ["name", "description"]
    list_select_related = ["program__merchant"]

    def save_model(self, request, obj, form, change):
        services.save_reward(reward=obj)

    def delete_model(self, request, obj):
        services.delete_rewards(reward_ids=[obj.pk])

    def delete_queryset(self, request, queryset):
        services.delete_rewards(reward_ids=list(queryset.values_list("pk", flat=True)))


WEEKDAYS = [
    ("1", "Monday"),
    ("2", "Tuesday"),
    ("3", "Wednesday"),
    ("4", "Thursday"),
    ("5", "Friday"),
    ("6", "Saturday"),
    ("7", "Sunday"),
]


class PromotionForm(forms.ModelForm):
    """The promotion's rules, checked before the service saves it (the database checks them again)."""

    weekdays = forms.MultipleChoiceField(
        choices=WEEKDAYS,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked = every day.",
    )

    class Meta:
        model = Promotion
        fields = [
            "program",
            "name",
            "starts_at",
            "ends_at",
            "weekdays",
            "start_time",
            "end_time",
            "stores",
            "points_multiplier",
            "bonus_stamps",
            "is_active",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["weekdays"] = list(self.instance.weekdays)

    def clean_weekdays(self) -> str:
        return "".join(sorted(set(self.cleaned_data["weekdays"])))

    def clean(self):
        data = super().clean()
        starts_at, ends_at = data.get("starts_at"), data.get("ends_at")
        if starts_at and ends_at and ends_at <= starts_at:
            self.add_error("ends_at", "The promotion must end after it starts.")
        start_time, end_time = data.get("start_time"), data.get("end_time")
        if (start_time is None) != (end_time is None):
            self.add_error("end_time", "Give both hours (from and until), or neither for all day.")
        elif start_time is not None and end_time <= start_time:
            self.add_error("end_time", "The hours end after they start (a window over midnight is two promotions).")
        multiplier, bonus = data.get("points_multiplier"), data.get("bonus_stamps")
        if multiplier is not None and bonus is not None and multiplier <= 1 and bonus == 0:
            self.add_error(None, "A promotion multiplies points (above 1) or adds bonus stamps, or both.")
        program = data.get("program")
        if program is not None:
            foreign = [store for store in data.get("stores") or [] if store.merchant_id != program.merchant_id]
            if foreign:
                self.add_error("stores", "Choose stores of the program's merchant.")
            if data.get("is_active") and ends_at and ends_at > timezone.now():
                others = services.promotions.active_promotions(program.pk).exclude(pk=self.instance.pk).count()
                if others >= services.MAX_ACTIVE_PROMOTIONS:
                    self.add_error(
                        None,
                        f"This program already runs {others} active promotions, the maximum of "
                        f"{services.MAX_ACTIVE_PROMOTIONS}: switch one off or let it end first.",
                    )
        return data


@admin.register(Promotion)
class PromotionAdmin(MerchantScopedAdmin):
    form = PromotionForm
    list_display = [
        "name",
        "program",
        "starts_at",
        "ends_at",
        "days",
        "hours",
        "points_multiplier",
        "bonus_stamps",
        "is_active",
    ]
    list_filter = ["is_active"]
    search_fields = ["name"]
    list_select_related = ["program__merchant"]
    date_hierarchy = "starts_at"
    fieldsets = [
        (None, {"fields": ["program", "name", "is_active"]}),
        (
            "When (in the merchant's time zone)",
            {
                "fields": ["starts_at", "ends_at", "weekdays", "start_time", "end_time"],
                "description": "From the start (included) to the end (excluded); on the ticked weekdays (none = "
                "every day); between the two hours (both empty = all day).",
            },
        ),
        ("Where", {"fields": ["stores"]}),
        (
            "What",
            {
                "fields": ["points_multiplier", "bonus_stamps"],
                "description": "An earn during the promotion gets floor(amount x points per euro x tier multiplier x "
                "promotion multiplier) points; a stamp gets the bonus stamps on top. When several promotions run "
                "at once, only the best applies (highest multiplier, then most bonus stamps). At most "
                f"{services.MAX_ACTIVE_PROMOTIONS} active promotions per program.",
            },
        ),
    ]

    @admin.display(description="Days")
    def days(self, obj: Promotion) -> str:
        names = dict(WEEKDAYS)
        return ", ".join(names[digit][:3] for digit in obj.weekdays) or "Every day"

    @admin.display(description="Hours")
    def hours(self, obj: Promotion) -> str:
        if obj.start_time is None:
            return "All day"
        return f"{obj.start_time:%H:%M}–{obj.end_time:%H:%M}"

    def save_model(self, request, obj, form, change):
        try:
            services.save_promotion(promotion=obj, stores=list(form.cleaned_data.get("stores") or []))
        except LoyaltyError as exc:
            self.refuse(request, exc.message)
            return
        overlapping = services.overlapping_promotions(obj)
        if overlapping:
            names = ", ".join(f"“{other.name}”" for other in overlapping)
            self.message_user(
                request,
                f"“{obj.name}” overlaps with {names}: when they run at the same time and store, only the best "
                "one applies (highest multiplier, then most bonus stamps).",
                messages.WARNING,
            )

    def log_addition(self, request, obj, message):
        if not getattr(request, "_admin_save_refused", False):
            return super().log_addition(request, obj, message)

    def save_related(self, request, form, formsets, change):
        if getattr(request, "_admin_save_refused", False):
            return
        # The stores were set by the service; the form's save_m2m would set the same ones again.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)


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
