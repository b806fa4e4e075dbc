import secrets
import uuid
from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone

from customers.models import Customer
from merchants.models import Merchant, Store

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
    require_staff_pin = models.BooleanField(default=False, help_text="Cashiers enter their PIN for every operation.")
    point_value = models.DecimalField(
        max_digits=10,
        decimal_places=4,
        default=Decimal("0.01"),
        validators=[MinValueValidator(0)],
        help_text="What one point is worth to you, in euros: the value of the points you owe (insights, liability).",
    )

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


class Reward(models.Model):
    merchant_path = "program__merchant"

    program = models.ForeignKey(LoyaltyProgram, on_delete=models.CASCADE, related_name="rewards")
    name = models.CharField(max_length=120)
    description = models.CharField(max_length=255, blank=True)
    points_cost = models.IntegerField(validators=[MinValueValidator(1)])
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["points_cost", "name"]
        constraints = [
            models.CheckConstraint(condition=models.Q(points_cost__gte=1), name="reward_points_cost_gte_1"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.points_cost} pts)"


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
            models.Index(fields=["merchant", "last_activity_at"], name="card_merchant_activity_idx"),
            models.Index(
                fields=["program", "last_activity_at"],
                condition=models.Q(points_balance__gt=0),
                name="card_expiry_candidates_idx",
            ),
            # Insights, read from the index alone on PostgreSQL: members enrolled in a period (per day,
            # per store, live or not) and the points outstanding on live cards (per program).
            models.Index(
                fields=["merchant", "created_at"],
                include=["enrolled_at_store", "deleted_at"],
                name="card_merchant_created_idx",
            ),
            models.Index(
                fields=["merchant", "program"],
                include=["points_balance"],
                condition=models.Q(deleted_at__isnull=True),
                name="card_live_balances_idx",
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
        WELCOME_BONUS = "welcome_bonus", "Welcome bonus"
        STAMP = "stamp", "Stamp"
        STAMP_REDEEM = "stamp_redeem", "Stamp reward redeemed"
        STAMP_VOID = "stamp_void", "Stamp voided"
        STAMPS_ADJUST = "stamps_adjust", "Stamps adjusted"
        POINTS_EARN = "points_earn", "Points earned"
        POINTS_REDEEM = "points_redeem", "Points redeemed"
        POINTS_VOID = "points_void", "Points voided"
        POINTS_ADJUST = "points_adjust", "Points adjusted"
        POINTS_EXPIRE = "points_expire", "Points expired"

    card = models.ForeignKey(LoyaltyCard, on_delete=models.PROTECT, related_name="transactions")
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="transactions")
    store = models.ForeignKey(Store, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
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
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

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
            models.CheckConstraint(condition=models.Q(stamps_after__gte=0), name="ledger_stamps_after_gte_0"),
            models.CheckConstraint(condition=models.Q(points_after__gte=0), name="ledger_points_after_gte_0"),
        ]
        indexes = [
            models.Index(fields=["card", "-created_at"], name="ledger_card_created_idx"),
            models.Index(fields=["merchant", "-created_at"], name="ledger_merchant_created_idx"),
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


class IdempotencyRecord(models.Model):
    """The first answer to a POS mutation sent with an ``Idempotency-Key`` header.

    Claimed (``status_code`` empty) before the operation runs, completed with the response
    once it succeeded, deleted again when it was refused (a refusal changed nothing, so a
    retry with the same key may run). Unique per merchant, like the ledger's key.
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
