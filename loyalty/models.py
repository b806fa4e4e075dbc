import secrets
import uuid
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from customers.models import Customer
from merchants.models import Merchant, Store


def _in_language(default: str, french: str) -> str:
    """The French text on a French page or email (when one is written), the default otherwise."""
    language = (translation.get_language() or "").split("-")[0]
    return french if language == "fr" and french else default


hex_color = RegexValidator(r"^#[0-9a-fA-F]{6}$", "Use a colour like #1f2937.")


class LoyaltyProgram(models.Model):
    class Kind(models.TextChoices):
        STAMPS = "stamps", "Stamp card"
        POINTS = "points", "Points"
        HYBRID = "hybrid", "Stamps and points"

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="programs")
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.HYBRID)
    is_active = models.BooleanField(default=True)

    stamps_target = models.IntegerField(
        default=10, validators=[MinValueValidator(1)], help_text="Stamps needed for a reward."
    )
    stamp_reward_description = models.CharField(max_length=200, default="A free coffee")
    stamp_cooldown_minutes = models.IntegerField(
        default=0,
        validators=[MinValueValidator(0)],
        help_text="Minimum minutes between two stamps on one card (0 = none).",
    )
    max_stamps_per_day = models.IntegerField(
        null=True,
        validators=[MinValueValidator(1)],
        blank=True,
        help_text="Per card and calendar day; empty = no limit.",
    )

    points_per_euro = models.DecimalField(
        max_digits=8, decimal_places=2, default=Decimal("1.00"), validators=[MinValueValidator(0)]
    )
    min_purchase = models.DecimalField(
        max_digits=10, decimal_places=2, default=Decimal("0.00"), validators=[MinValueValidator(0)]
    )
    welcome_bonus = models.IntegerField(
        default=0, validators=[MinValueValidator(0)], help_text="Points given on enrollment."
    )
    points_expiry_days = models.IntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Points expire after this many days without activity; empty = never.",
    )
    # When the expiry was last shortened (or switched on): a card's inactivity counts from then at
    # the earliest, so a shorter rule applies to activity after the change (README, Richer programs).
    points_expiry_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    require_staff_pin = models.BooleanField(default=False, help_text="Cashiers enter their PIN for every operation.")
    point_value = models.DecimalField(
        max_digits=10,
        decimal_places=4,
        default=Decimal("0.01"),
        validators=[MinValueValidator(0)],
        help_text="What one point is worth to you, in euros: the value of the points you owe (insights, liability).",
    )
    approval_threshold_points = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="A cashier's redemption or void of more points than this needs a manager's name and PIN; "
        "empty = never.",
    )

    # Customer engagement.
    birthday_bonus_points = models.IntegerField(
        default=0,
        validators=[MinValueValidator(0, "A birthday bonus cannot be below zero.")],
        help_text="Points given on each member's birthday, once a year (0 = none).",
    )
    birthday_bonus_stamps = models.IntegerField(
        default=0,
        validators=[MinValueValidator(0, "A birthday bonus cannot be below zero.")],
        help_text="Stamps given on each member's birthday, once a year (0 = none).",
    )
    expiry_reminder_days = models.IntegerField(
        null=True,
        blank=True,
        default=14,
        validators=[MinValueValidator(1, "Remind at least 1 day before points expire (leave empty for no reminders).")],
        help_text="Remind members this many days before their points expire; empty = no reminders.",
    )
    # The stamp reward in French (empty: the description above is used in every language).
    stamp_reward_description_fr = models.CharField("stamp reward description (French)", max_length=200, blank=True)

    # Wallet branding.
    background_color = models.CharField(max_length=7, default="#1f2937", validators=[hex_color])
    foreground_color = models.CharField(max_length=7, default="#ffffff", validators=[hex_color])
    label_color = models.CharField(max_length=7, default="#d1d5db", validators=[hex_color])
    logo = models.ImageField(upload_to="program-logos/", blank=True)
    logo_text = models.CharField(max_length=40, blank=True)
    card_description = models.CharField(max_length=200, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["merchant__name", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant"],
                condition=models.Q(is_active=True),
                name="program_one_active_per_merchant",
            ),
            models.CheckConstraint(condition=models.Q(stamps_target__gte=1), name="program_stamps_target_gte_1"),
            models.CheckConstraint(condition=models.Q(points_per_euro__gte=0), name="program_points_per_euro_gte_0"),
            models.CheckConstraint(condition=models.Q(min_purchase__gte=0), name="program_min_purchase_gte_0"),
            models.CheckConstraint(condition=models.Q(welcome_bonus__gte=0), name="program_welcome_bonus_gte_0"),
            models.CheckConstraint(
                condition=models.Q(points_expiry_days__isnull=True) | models.Q(points_expiry_days__gte=1),
                name="program_points_expiry_days_gte_1",
            ),
            models.CheckConstraint(
                condition=models.Q(stamp_cooldown_minutes__gte=0), name="program_stamp_cooldown_gte_0"
            ),
            models.CheckConstraint(
                condition=models.Q(max_stamps_per_day__isnull=True) | models.Q(max_stamps_per_day__gte=1),
                name="program_max_stamps_per_day_gte_1",
            ),
            models.CheckConstraint(
                condition=models.Q(kind__in=["stamps", "points", "hybrid"]), name="program_kind_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(birthday_bonus_points__gte=0), name="program_birthday_bonus_points_gte_0"
            ),
            models.CheckConstraint(
                condition=models.Q(birthday_bonus_stamps__gte=0), name="program_birthday_bonus_stamps_gte_0"
            ),
            models.CheckConstraint(
                condition=models.Q(expiry_reminder_days__isnull=True) | models.Q(expiry_reminder_days__gte=1),
                name="program_expiry_reminder_days_gte_1",
            ),
            models.CheckConstraint(condition=models.Q(point_value__gte=0), name="program_point_value_gte_0"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.merchant})"

    @property
    def uses_stamps(self) -> bool:
        return self.kind in (self.Kind.STAMPS, self.Kind.HYBRID)

    @property
    def uses_points(self) -> bool:
        return self.kind in (self.Kind.POINTS, self.Kind.HYBRID)

    @property
    def localized_stamp_reward(self) -> str:
        return _in_language(self.stamp_reward_description, self.stamp_reward_description_fr)

    @property
    def birthday_points(self) -> int:
        """The birthday points this program gives (none when it does not collect points)."""
        return self.birthday_bonus_points if self.uses_points else 0

    @property
    def birthday_stamps(self) -> int:
        return self.birthday_bonus_stamps if self.uses_stamps else 0

    @property
    def has_birthday_bonus(self) -> bool:
        return bool(self.birthday_points or self.birthday_stamps)


class ProgramPartQuerySet(models.QuerySet):
    """Changes in bulk (an admin action, a cascade) move the programs' ``updated_at`` too."""

    def update(self, **kwargs) -> int:
        programs = list(self.values_list("program_id", flat=True).distinct())
        changed = super().update(**kwargs)
        touch_programs(programs)
        return changed

    def delete(self):
        programs = list(self.values_list("program_id", flat=True).distinct())
        deleted = super().delete()
        touch_programs(programs)
        return deleted


def touch_programs(program_ids) -> None:
    LoyaltyProgram.objects.filter(pk__in=program_ids).update(updated_at=timezone.now())


class ProgramPart(models.Model):
    """A reward, tier or promotion: its change is its program's.

    The till keeps each program's rewards, tiers and promotions in memory under the program's
    ``updated_at`` (loyalty/selectors.py, ``active_rewards``; loyalty/services/promotions.py,
    tiers.py), so every save and delete moves it, one by one or in bulk.
    """

    objects = ProgramPartQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs) -> None:
        super().save(*args, **kwargs)
        touch_programs([self.program_id])

    def delete(self, *args, **kwargs):
        deleted = super().delete(*args, **kwargs)
        touch_programs([self.program_id])
        return deleted


class Reward(ProgramPart):
    """A catalogue reward, paid for in points (``points_cost``) or in stamps (``stamps_cost``), never both.

    Stamps rewards form the card's reward ladder (a coffee at 5 stamps, a cake at 10) next to the
    program's own stamp reward at ``stamps_target``.
    """

    merchant_path = "program__merchant"

    program = models.ForeignKey(LoyaltyProgram, on_delete=models.CASCADE, related_name="rewards")
    name = models.CharField(max_length=120)
    description = models.CharField(max_length=255, blank=True)
    # The customer's language: empty falls back to the name and description above.
    name_fr = models.CharField("name (French)", max_length=120, blank=True)
    description_fr = models.CharField("description (French)", max_length=255, blank=True)
    points_cost = models.IntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Points it costs (a points reward). Leave empty for a stamps reward.",
    )
    stamps_cost = models.IntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Stamps it costs (a reward of the stamp ladder). Leave empty for a points reward.",
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["points_cost", "stamps_cost", "name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(points_cost__isnull=True) | models.Q(points_cost__gte=1),
                name="reward_points_cost_gte_1",
            ),
            models.CheckConstraint(
                condition=models.Q(stamps_cost__isnull=True) | models.Q(stamps_cost__gte=1),
                name="reward_stamps_cost_gte_1",
            ),
            models.CheckConstraint(
                condition=models.Q(points_cost__isnull=True, stamps_cost__isnull=False)
                | models.Q(points_cost__isnull=False, stamps_cost__isnull=True),
                name="reward_points_or_stamps_cost",
            ),
        ]

    def __str__(self) -> str:
        if self.stamps_cost is not None:
            return f"{self.name} ({self.stamps_cost} stamps)"
        return f"{self.name} ({self.points_cost} pts)"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if self.points_cost is not None and self.stamps_cost is not None:
            raise ValidationError("A reward costs points or stamps, not both: empty one of the two costs.")
        if self.points_cost is None and self.stamps_cost is None:
            raise ValidationError("Give the reward a cost in points or in stamps.")

    @property
    def is_stamps_reward(self) -> bool:
        return self.stamps_cost is not None

    @property
    def localized_name(self) -> str:
        return _in_language(self.name, self.name_fr)

    @property
    def localized_description(self) -> str:
        return _in_language(self.description, self.description_fr)


class Tier(ProgramPart):
    """A level of the program a card reaches with the points it earned in the last 365 days."""

    merchant_path = "program__merchant"

    program = models.ForeignKey(LoyaltyProgram, on_delete=models.CASCADE, related_name="tiers")
    name = models.CharField(max_length=60)
    name_fr = models.CharField("name (French)", max_length=60, blank=True)
    min_points_12m = models.IntegerField(
        "points earned in 12 months",
        validators=[MinValueValidator(0)],
        help_text="Points earned in the last 365 days (earns minus voids) to reach this tier.",
    )
    points_multiplier = models.DecimalField(
        max_digits=3,
        decimal_places=2,
        default=Decimal("1.00"),
        validators=[MinValueValidator(Decimal("1")), MaxValueValidator(Decimal("5"))],
        help_text="Earned points are multiplied by this (1 to 5, e.g. 1.25).",
    )

    class Meta:
        ordering = ["program", "min_points_12m"]
        constraints = [
            models.UniqueConstraint(fields=["program", "min_points_12m"], name="tier_threshold_unique_per_program"),
            models.UniqueConstraint(fields=["program", "name"], name="tier_name_unique_per_program"),
            models.CheckConstraint(condition=models.Q(min_points_12m__gte=0), name="tier_min_points_gte_0"),
            models.CheckConstraint(
                condition=models.Q(points_multiplier__gte=1, points_multiplier__lte=5),
                name="tier_points_multiplier_1_to_5",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} (from {self.min_points_12m} points, x{self.points_multiplier})"

    @property
    def localized_name(self) -> str:
        return _in_language(self.name, self.name_fr)


class Promotion(ProgramPart):
    """Double points, a bonus stamp: a time window (dates, weekdays, hours) at some or all stores.

    ``weekdays`` holds ISO weekday digits in order ("2" = Tuesday, "135" = Monday, Wednesday,
    Friday; empty = every day). Times are wall-clock times in ``TIME_ZONE``, the start included
    and the end excluded; both empty = all day.
    """

    merchant_path = "program__merchant"

    program = models.ForeignKey(LoyaltyProgram, on_delete=models.CASCADE, related_name="promotions")
    name = models.CharField(max_length=120)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(help_text="Excluded: the promotion is over at this moment.")
    weekdays = models.CharField(
        max_length=7,
        blank=True,
        default="",
        validators=[
            RegexValidator(r"^1?2?3?4?5?6?7?$", "Weekdays are ISO numbers 1 (Monday) to 7 (Sunday), in order.")
        ],
        help_text="Empty = every day.",
    )
    start_time = models.TimeField(null=True, blank=True, help_text="Empty (with the end) = all day.")
    end_time = models.TimeField(null=True, blank=True, help_text="Excluded; after the start (no overnight window).")
    stores = models.ManyToManyField(
        Store, blank=True, related_name="promotions", help_text="Empty = every store of the merchant."
    )
    points_multiplier = models.DecimalField(
        max_digits=4,
        decimal_places=2,
        default=Decimal("1.00"),
        validators=[MinValueValidator(Decimal("1")), MaxValueValidator(Decimal("10"))],
        help_text="Earned points are multiplied by this (1 to 10; 2 = double points).",
    )
    bonus_stamps = models.IntegerField(
        default=0,
        validators=[MinValueValidator(0), MaxValueValidator(5)],
        help_text="Extra stamps given with each stamp (0 to 5).",
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-starts_at", "name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")), name="promotion_ends_after_start"
            ),
            models.CheckConstraint(
                condition=models.Q(points_multiplier__gte=1, points_multiplier__lte=10),
                name="promotion_points_multiplier_1_to_10",
            ),
            models.CheckConstraint(
                condition=models.Q(bonus_stamps__gte=0, bonus_stamps__lte=5), name="promotion_bonus_stamps_0_to_5"
            ),
            models.CheckConstraint(
                condition=models.Q(points_multiplier__gt=1) | models.Q(bonus_stamps__gt=0),
                name="promotion_gives_something",
            ),
            models.CheckConstraint(
                condition=models.Q(start_time__isnull=True, end_time__isnull=True)
                | models.Q(start_time__isnull=False, end_time__isnull=False, end_time__gt=models.F("start_time")),
                name="promotion_hours_start_before_end",
            ),
            models.CheckConstraint(
                condition=models.Q(weekdays__regex=r"^1?2?3?4?5?6?7?$"), name="promotion_weekdays_iso_in_order"
            ),
        ]
        indexes = [models.Index(fields=["program", "ends_at"], name="promotion_program_ends_idx")]

    def __str__(self) -> str:
        return self.name

    @property
    def weekday_numbers(self) -> list[int]:
        return [int(digit) for digit in self.weekdays]


def generate_card_number() -> str:
    digits = f"{secrets.randbelow(10**12):012d}"
    return f"{digits[0:4]}-{digits[4:8]}-{digits[8:12]}"


def generate_qr_code_data() -> str:
    return secrets.token_urlsafe(24)


def generate_apple_auth_token() -> str:
    return secrets.token_urlsafe(32)


def generate_apple_serial_number() -> str:
    return uuid.uuid4().hex


class LoyaltyCardQuerySet(models.QuerySet):
    def alive(self):
        return self.filter(deleted_at__isnull=True)


class LoyaltyCard(models.Model):
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="cards")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="cards")
    program = models.ForeignKey(LoyaltyProgram, on_delete=models.PROTECT, related_name="cards")
    enrolled_at_store = models.ForeignKey(
        Store, on_delete=models.SET_NULL, null=True, blank=True, related_name="enrolled_cards"
    )

    card_number = models.CharField(
        max_length=14,
        unique=True,
        default=generate_card_number,
        validators=[RegexValidator(r"^\d{4}-\d{4}-\d{4}$", "Card numbers look like 1234-5678-9012.")],
    )
    qr_code_data = models.CharField(max_length=64, unique=True, default=generate_qr_code_data)

    stamp_count = models.IntegerField(default=0)
    lifetime_stamps = models.IntegerField(default=0)
    rewards_redeemed = models.IntegerField(default=0)

    points_balance = models.IntegerField(default=0)
    lifetime_points_earned = models.IntegerField(default=0)
    lifetime_points_redeemed = models.IntegerField(default=0)
    lifetime_points_voided = models.IntegerField(default=0)

    google_object_id = models.CharField(max_length=200, blank=True)
    apple_serial_number = models.CharField(max_length=64, unique=True, default=generate_apple_serial_number)
    apple_auth_token = models.CharField(max_length=64, default=generate_apple_auth_token)

    last_stamp_at = models.DateTimeField(null=True, blank=True)
    last_points_at = models.DateTimeField(null=True, blank=True)
    last_redemption_at = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField(default=timezone.now)

    is_active = models.BooleanField(default=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The card's tier (loyalty/services/tiers.py): up at the earn that crosses a threshold, down only
    # at the nightly review.
    tier = models.ForeignKey("Tier", on_delete=models.SET_NULL, null=True, blank=True, related_name="cards")
    tier_changed_at = models.DateTimeField(null=True, blank=True)
    # What the Google object last announced and when it last notified (wallet/google/notices.py):
    # {"announced": [notice ids], "notified": [ISO times of notifying patches in the last 24 h]}.
    google_notices = models.JSONField(default=dict, blank=True)

    objects = LoyaltyCardQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "customer"],
                condition=models.Q(deleted_at__isnull=True),
                name="card_one_per_customer_per_merchant",
            ),
            models.UniqueConstraint(
                fields=["program", "customer"],
                condition=models.Q(deleted_at__isnull=True),
                name="card_one_per_customer_per_program",
            ),
            models.CheckConstraint(condition=models.Q(points_balance__gte=0), name="card_points_balance_gte_0"),
            models.CheckConstraint(condition=models.Q(stamp_count__gte=0), name="card_stamp_count_gte_0"),
        ]
        indexes = [
            # The customer and the id included: the admin's searches walk these two in order, testing each
            # card's customer, from the index alone (the ledger's name search: 22 ms of SQL -> 2 at 500,000).
            models.Index(
                fields=["merchant", "last_activity_at"], include=["customer", "id"], name="card_activity_customer_idx"
            ),
            # The nightly expiry walks it in order, and the reminders read a range of it. No index reads
            # points_balance (key, INCLUDE or condition): the expiry changes only the balance and
            # updated_at, so PostgreSQL updates the card in place (HOT) without touching its indexes.
            models.Index(
                fields=["program", "last_activity_at", "id"],
                condition=models.Q(deleted_at__isnull=True),
                name="card_expiry_candidates_idx",
            ),
            # Insights, read from the index alone on PostgreSQL: members enrolled in a period (per day,
            # per store, live or not); and the admin's cards list, newest first (see above).
            models.Index(
                fields=["merchant", "created_at"],
                include=["enrolled_at_store", "deleted_at", "customer", "id"],
                name="card_created_customer_idx",
            ),
            # The admin's "Inactive" filter (deleted cards are inactive too): few rows, newest first.
            models.Index(
                fields=["merchant", "created_at"], condition=models.Q(is_active=False), name="card_inactive_idx"
            ),
            # Insights: the deleted cards alone (members total subtracts them, points outstanding
            # their balances, the liability their forfeited points), however many live cards. The
            # balances are read from the few deleted cards' rows (see card_expiry_candidates_idx).
            models.Index(
                fields=["merchant", "created_at"],
                include=["program", "enrolled_at_store", "deleted_at"],
                condition=models.Q(deleted_at__isnull=False),
                name="card_deleted_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.card_number

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def stamps_until_reward(self) -> int:
        return max(self.program.stamps_target - self.stamp_count, 0)

    @property
    def stamp_reward_available(self) -> bool:
        return self.stamp_count >= self.program.stamps_target


class LoyaltyTransaction(models.Model):
    """One row of the append-only ledger; balances equal the sum of a card's deltas."""

    class Type(models.TextChoices):
        WELCOME_BONUS = "welcome_bonus", _("Welcome bonus")
        STAMP = "stamp", _("Stamp")
        STAMP_REDEEM = "stamp_redeem", _("Stamp reward redeemed")
        STAMP_VOID = "stamp_void", _("Stamp voided")
        STAMPS_ADJUST = "stamps_adjust", _("Stamps adjusted")
        POINTS_EARN = "points_earn", _("Points earned")
        POINTS_REDEEM = "points_redeem", _("Points redeemed")
        POINTS_VOID = "points_void", _("Points voided")
        POINTS_ADJUST = "points_adjust", _("Points adjusted")
        POINTS_EXPIRE = "points_expire", _("Points expired")
        BIRTHDAY_BONUS = "birthday_bonus", _("Birthday bonus")
        # Opening balances brought over from a merchant's former cards (customers/imports.py).
        POINTS_IMPORT = "points_import", _("Points imported")
        STAMPS_IMPORT = "stamps_import", _("Stamps imported")

    # No index of their own: the (card, …), (merchant, …) and (store, …) indexes below start with them.
    card = models.ForeignKey(LoyaltyCard, on_delete=models.PROTECT, related_name="transactions", db_index=False)
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="transactions", db_index=False)
    store = models.ForeignKey(Store, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False)
    staff_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    type = models.CharField(max_length=20, choices=Type.choices)
    stamps_delta = models.IntegerField(default=0)
    points_delta = models.IntegerField(default=0)
    stamps_after = models.IntegerField()
    points_after = models.IntegerField()
    purchase_amount = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    order_reference = models.CharField(max_length=64, blank=True)
    reward = models.ForeignKey(Reward, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    reason = models.CharField(max_length=255, blank=True)
    idempotency_key = models.CharField(max_length=100, blank=True)
    related_transaction = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="reversals"
    )
    # The manager or owner who approved a cashier's redemption or void above the program's threshold.
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # What a promotion or tier changed (earns and stamps): the promotion that applied, the amount
    # the rules alone gave (floor(amount x points_per_euro) points; 1 stamp) and the multiplier
    # applied to the points (tier x promotion). Kept as given: a later rule change rewrites nothing.
    promotion = models.ForeignKey(Promotion, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    base_points = models.IntegerField(null=True, blank=True)
    base_stamps = models.IntegerField(null=True, blank=True)
    points_multiplier = models.DecimalField(max_digits=6, decimal_places=4, null=True, blank=True)
    # The calendar year a birthday bonus is for: once per card and year (a unique constraint).
    bonus_year = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)  # indexed with the id (Meta.indexes)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="ledger_idempotency_key_unique_per_merchant",
            ),
            models.UniqueConstraint(
                fields=["merchant", "order_reference"],
                condition=models.Q(type="points_earn") & ~models.Q(order_reference=""),
                name="ledger_order_reference_earns_once",
            ),
            models.UniqueConstraint(
                fields=["card", "bonus_year"],
                condition=models.Q(type="birthday_bonus"),
                name="ledger_birthday_bonus_once_per_card_year",
            ),
            models.CheckConstraint(
                condition=~models.Q(type="birthday_bonus") | models.Q(bonus_year__isnull=False),
                name="ledger_birthday_bonus_has_year",
            ),
            models.CheckConstraint(condition=models.Q(stamps_after__gte=0), name="ledger_stamps_after_gte_0"),
            models.CheckConstraint(
                condition=models.Q(base_points__isnull=True) | models.Q(base_points__gte=0),
                name="ledger_base_points_gte_0",
            ),
            models.CheckConstraint(
                condition=models.Q(base_stamps__isnull=True) | models.Q(base_stamps__gte=0),
                name="ledger_base_stamps_gte_0",
            ),
            models.CheckConstraint(
                condition=models.Q(points_multiplier__isnull=True) | models.Q(points_multiplier__gte=1),
                name="ledger_points_multiplier_gte_1",
            ),
            models.CheckConstraint(condition=models.Q(points_after__gte=0), name="ledger_points_after_gte_0"),
        ]
        indexes = [
            # Newest first is (created_at, id) descending: every index a list or a page is read from ends with
            # both, so the database reads a page's rows and stops. With created_at alone, rows of one instant
            # (the nightly expiry writes 100,000 of them) had to be read whole and sorted by id for one page.
            # A card's ledger (the API's pages, selectors.LedgerPages; the admin's search by card).
            models.Index(fields=["card", "-created_at", "-id"], name="ledger_card_created_id_idx"),
            # The admin's list of a merchant's ledger; the operator's of every merchant.
            models.Index(fields=["merchant", "-created_at", "-id"], name="ledger_merchant_created_id_idx"),
            models.Index(fields=["-created_at", "-id"], name="ledger_created_id_idx"),
            # The admin's filters by operation and by store, newest first: a rare operation or a new
            # store's few rows are found without walking the merchant's whole ledger.
            models.Index(fields=["merchant", "type", "-created_at", "-id"], name="ledger_merchant_type_id_idx"),
            models.Index(fields=["store", "-created_at", "-id"], name="ledger_store_created_id_idx"),
            # Insights: visits (stamps and earns) of a period, read from the index alone on PostgreSQL.
            models.Index(
                fields=["merchant", "created_at"],
                include=["card", "store"],
                condition=models.Q(type__in=["stamp", "points_earn"]),
                name="ledger_visits_idx",
            ),
        ]

    def __str__(self) -> str:
        # The card's number, not its internal id ("Points adjusted on 9" told an owner nothing).
        when = timezone.localtime(self.created_at).strftime("%Y-%m-%d %H:%M") if self.created_at else ""
        return f"{self.get_type_display()}, card {self.card.card_number}, {when}".strip(", ")

    @property
    def type_label(self) -> str:
        """``get_type_display()``, without rebuilding the choices each time (a POS answer shows ten rows)."""
        return str(_LEDGER_TYPE_LABELS.get(self.type, self.type))


_LEDGER_TYPE_LABELS = dict(LoyaltyTransaction.Type.choices)


class IdempotencyRecord(models.Model):
    """The first answer to a POS mutation sent with an ``Idempotency-Key`` header.

    Written once, after the operation succeeded, with the bytes the client got
    (loyalty/idempotency.py); a refusal keeps nothing, so a retry with the same key may run.
    Rows of older releases may have no ``status_code`` (claimed, never completed): a retry
    then rebuilds the answer from the ledger. Unique per merchant, like the ledger's key.
    """

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    key = models.CharField(max_length=100)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    # The body as the client got it, kept as text: jsonb would reorder its keys.
    response_body = models.TextField(blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["merchant", "key"], name="idempotency_record_key_unique_per_merchant"),
        ]
        indexes = [models.Index(fields=["started_at"], name="idempotency_record_started_idx")]

    def __str__(self) -> str:
        return f"{self.key} ({self.status_code or 'in progress'})"

    @property
    def is_complete(self) -> bool:
        return self.status_code is not None


class ExpiryReminder(models.Model):
    """A card was told its points expire on ``expires_on``: once per card and expiry date.

    Activity moves the expiry date, so a card active again gets a new reminder for the new date.
    """

    merchant_path = "card__merchant"

    card = models.ForeignKey(LoyaltyCard, on_delete=models.CASCADE, related_name="expiry_reminders")
    expires_on = models.DateField()
    points = models.IntegerField()
    emailed = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["card", "expires_on"], name="expiry_reminder_once_per_card_date"),
        ]

    def __str__(self) -> str:
        return f"{self.points} points of card {self.card_id} expire on {self.expires_on}"


class Alert(models.Model):
    """An anomaly the nightly detection found (loyalty/services/alerts.py), for owners and managers.

    ``fact_key`` names the fact (the card and day, the staff member and day); it is unique per
    merchant, so a rerun of the detection never raises the same alert twice.
    """

    class Kind(models.TextChoices):
        CARD_BUSY_DAY = "card_busy_day", "A card with many stamps and earns in a day"
        STAFF_VOID_RATIO = "staff_void_ratio", "A staff member voiding much of what they issued"
        STAFF_ADJUSTMENTS = "staff_adjustments", "Many adjustments by one person in a day"

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="alerts")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    card = models.ForeignKey(LoyaltyCard, on_delete=models.SET_NULL, null=True, blank=True, related_name="alerts")
    details = models.JSONField(default=dict, blank=True)
    fact_key = models.CharField(max_length=120, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "fact_key"], name="alert_fact_once_per_merchant"),
        ]
        indexes = [models.Index(fields=["merchant", "-created_at"], name="alert_merchant_created_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.created_at:%Y-%m-%d})"

    @property
    def acknowledged(self) -> bool:
        return self.acknowledged_at is not None
