"""The admin of promotions: the form that checks their rules, and the list."""

from django import forms
from django.contrib import admin, messages
from django.utils import timezone

from core.errors import LoyaltyError
from loyalty import services
from loyalty.models import Promotion
from merchants.admin_scoping import MerchantScopedAdmin

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
