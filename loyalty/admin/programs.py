"""The admin of programs (with their rewards and tiers inline) and of the reward catalogue."""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from loyalty import services
from loyalty.models import LoyaltyProgram, Reward, Tier
from merchants.admin_filters import titled
from merchants.admin_scoping import MerchantScopedAdmin, ScopedTabularInline

ACTIVE = {"yes": _("Active"), "no": _("Inactive")}


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
