"""Input serializers (one per action) and the output shapes of the staff API.

Inputs only parse and check what a request says; the rules (cooldown, balances, duplicate
orders) live in loyalty/services/. Outputs describe the contract, not the models.
"""

from decimal import Decimal

from django.conf import settings
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.errors import LoyaltyError
from loyalty.models import Alert, LoyaltyTransaction, Reward
from loyalty.services import MAX_POINTS_PER_OPERATION, MAX_STAMPS_PER_ADJUSTMENT
from merchants.authorization import first_two_stores, store_at, stores_of
from merchants.models import StaffMember, Store

MAX_PURCHASE_AMOUNT = Decimal(settings.LOYALTY_MAX_PURCHASE_AMOUNT)


# --- fields --------------------------------------------------------------------------------


class _RangedField:
    """A number field whose value errors carry ``error_code``, so the API's error code names the problem.

    The range is checked here rather than by validators, so range errors carry the code too;
    ``min_value``/``max_value`` stay as attributes for the schema.
    """

    error_code = "invalid_input"

    def __init__(self, *, min_value=None, max_value=None, error_code: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.min_value, self.max_value = min_value, max_value
        if error_code:
            self.error_code = error_code

    def fail(self, key, **kwargs):
        try:
            super().fail(key, **kwargs)
        except serializers.ValidationError as exc:
            if key in ("required", "null"):
                raise
            raise serializers.ValidationError([str(item) for item in exc.detail], code=self.error_code) from None

    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("invalid")
        value = super().to_internal_value(data)
        if self.min_value is not None and value < self.min_value:
            self.fail("min_value", min_value=self.min_value)
        if self.max_value is not None and value > self.max_value:
            self.fail("max_value", max_value=self.max_value)
        return value


@extend_schema_field(
    {
        "type": "string",
        "format": "decimal",
        "pattern": r"^\d{1,6}(\.\d{1,2})?$",
        "example": "12.50",
        "description": f"More than 0, at most {MAX_PURCHASE_AMOUNT}, at most two decimals.",
    }
)
class AmountField(_RangedField, serializers.DecimalField):
    """A money amount: a decimal with at most two places, more than zero, at most the ceiling."""

    error_code = "invalid_amount"
    default_error_messages = {
        "min_value": "The purchase amount must be more than zero.",
        "max_value": "The purchase amount cannot exceed {max_value}.",
        "max_decimal_places": "The purchase amount has at most two decimals (cents).",
    }

    def __init__(self, **kwargs):
        super().__init__(
            max_digits=12, decimal_places=2, min_value=Decimal("0.01"), max_value=MAX_PURCHASE_AMOUNT, **kwargs
        )


class StrictIntegerField(_RangedField, serializers.IntegerField):
    """A JSON integer: no floats (``1.5``, ``2.0``), no strings (``"15"``), no booleans."""

    default_error_messages = {"invalid": "A whole number is required, like 120."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictCharField(serializers.CharField):
    """A JSON string: ``1234`` (a number) is not silently turned into ``"1234"``."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


# --- inputs --------------------------------------------------------------------------------


class MutationInput(serializers.Serializer):
    """What every balance change takes: the store and, when the program requires it, the PIN."""

    store = StrictCharField(
        required=False,
        max_length=30,
        help_text="Store code. Optional when the staff member works at exactly one store.",
    )
    staff_pin = StrictCharField(
        required=False,
        allow_blank=True,
        max_length=32,
        write_only=True,
        help_text="The cashier's 4-6 digit PIN; required when the program requires it.",
    )

    def validate_store(self, value: str) -> Store:
        store = store_at(self.context["staff"], value)
        if store is None:
            raise serializers.ValidationError(
                _("You do not work at a store with code %(code)r.") % {"code": value}, code="unknown_store"
            )
        return store

    def validate(self, attrs):
        if "store" not in attrs:
            stores = first_two_stores(self.context["staff"])
            if len(stores) == 1:
                attrs["store"] = stores[0]
            elif not stores:
                raise serializers.ValidationError(
                    {"store": [_("You are not assigned to any store; ask a manager.")]}, code="store_required"
                )
            else:
                raise serializers.ValidationError(
                    {"store": [_("Choose the store you are working at.")]}, code="store_required"
                )
        return attrs


class StampInput(MutationInput):
    pass


class RedeemStampsInput(MutationInput):
    reward_id = StrictIntegerField(
        required=False,
        min_value=1,
        max_value=2**63 - 1,
        help_text="A stamps reward of the card's program (see `stamp_rewards`); without it, the program's own "
        "stamp reward at `stamps_target`.",
    )

    def validate_reward_id(self, value: int) -> Reward:
        # Another merchant's reward is unknown here (404), like another merchant's card; whether it
        # is this program's, active and paid in stamps is the service's rule.
        reward = Reward.objects.filter(pk=value, program__merchant_id=self.context["staff"].merchant_id).first()
        if reward is None:
            raise LoyaltyError("reward_not_found", "That reward is not in this card's catalogue.", status=404)
        return reward

    def validate(self, attrs):
        attrs["reward"] = attrs.pop("reward_id", None)
        return super().validate(attrs)


class EarnPointsInput(MutationInput):
    purchase_amount = AmountField(help_text='The purchase total in euros, as a string like "12.50".')
    order_reference = StrictCharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=64,
        help_text="The till's order number; one order earns points once.",
    )


class ApprovalInput(MutationInput):
    """A redemption or void: above the program's approval threshold a cashier names a manager."""

    approver = StrictCharField(
        required=False,
        max_length=150,
        help_text="Username of the manager (of this store) or owner approving an operation above "
        "the program's `approval_threshold_points`.",
    )
    approver_pin = StrictCharField(
        required=False,
        allow_blank=True,
        max_length=32,
        write_only=True,
        help_text="The approver's PIN; a wrong one counts toward the approver's lockout.",
    )


class RedeemPointsInput(ApprovalInput):
    reward_id = StrictIntegerField(required=False, min_value=1, help_text="A reward of the card's catalogue.")
    points = StrictIntegerField(
        required=False,
        min_value=1,
        max_value=MAX_POINTS_PER_OPERATION,
        error_code="invalid_amount",
        help_text="An amount of points, when no catalogue reward is redeemed.",
    )

    def validate_reward_id(self, value: int) -> Reward:
        card = self.context["card"]
        reward = Reward.objects.filter(pk=value, program_id=card.program_id, is_active=True).first()
        if reward is None:
            raise serializers.ValidationError("That reward is not in this card's catalogue.", code="unknown_reward")
        return reward

    def validate(self, attrs):
        if ("reward_id" in attrs) == ("points" in attrs):
            raise serializers.ValidationError("Send either reward_id or points.")
        attrs["reward"] = attrs.pop("reward_id", None)
        return super().validate(attrs)


class VoidPointsInput(ApprovalInput):
    transaction_id = StrictIntegerField(
        required=False, min_value=1, help_text="The points_earn transaction of this card being returned."
    )
    points = StrictIntegerField(
        required=False,
        min_value=1,
        max_value=MAX_POINTS_PER_OPERATION,
        error_code="invalid_amount",
        help_text="An amount of points to void (then a reason is required).",
    )
    reason = StrictCharField(required=False, allow_blank=True, default="", max_length=255)

    def validate(self, attrs):
        if ("transaction_id" in attrs) == ("points" in attrs):
            raise serializers.ValidationError("Send either transaction_id or points and a reason.")
        if "points" in attrs and not attrs["reason"].strip():
            raise serializers.ValidationError({"reason": ["Say why these points are voided."]}, code="reason_required")
        return super().validate(attrs)


class VoidStampInput(ApprovalInput):
    transaction_id = StrictIntegerField(
        min_value=1, max_value=2**63 - 1, help_text="Today's stamp or stamp_redeem transaction of this card."
    )
    reason = StrictCharField(required=False, allow_blank=True, default="", max_length=255)


class AdjustInput(MutationInput):
    points_delta = StrictIntegerField(
        required=False,
        default=0,
        min_value=-MAX_POINTS_PER_OPERATION,
        max_value=MAX_POINTS_PER_OPERATION,
        error_code="invalid_amount",
    )
    stamps_delta = StrictIntegerField(
        required=False,
        default=0,
        min_value=-MAX_STAMPS_PER_ADJUSTMENT,
        max_value=MAX_STAMPS_PER_ADJUSTMENT,
        error_code="invalid_amount",
    )
    reason = StrictCharField(required=False, allow_blank=True, default="", max_length=255)

    def validate(self, attrs):
        if not attrs["reason"].strip():
            raise serializers.ValidationError({"reason": ["An adjustment needs a reason."]}, code="reason_required")
        if attrs["points_delta"] == 0 and attrs["stamps_delta"] == 0:
            raise serializers.ValidationError("An adjustment changes points, stamps or both.")
        return super().validate(attrs)


class LookupQuery(serializers.Serializer):
    q = StrictCharField(
        max_length=200,
        help_text="QR code data, card number (with or without dashes), email or phone.",
        error_messages={
            "required": "Scan or type a card number, email or phone.",
            "blank": "Scan or type a card number, email or phone.",
        },
    )

    def to_internal_value(self, data):
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if "q" in exc.detail and exc.detail["q"][0].code in ("required", "blank"):
                raise serializers.ValidationError({"q": [str(exc.detail["q"][0])]}, code="query_required") from None
            raise


class TransactionsQuery(serializers.Serializer):
    type = serializers.ChoiceField(
        choices=LoyaltyTransaction.Type.choices, required=False, help_text="Only transactions of this type."
    )


class PinVerifyInput(serializers.Serializer):
    pin = StrictCharField(max_length=32, help_text="The signed-in staff member's 4-6 digit PIN.")


class TokenInput(serializers.Serializer):
    username = StrictCharField(max_length=150)
    password = StrictCharField(max_length=128, trim_whitespace=False, style={"input_type": "password"})
    device = StrictCharField(
        max_length=100,
        required=False,
        allow_blank=True,
        help_text='A name for this device ("Till 2"), shown to managers; the User-Agent when absent.',
    )


class StaffTokensRevokeInput(serializers.Serializer):
    token_id = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=2**63 - 1,
        help_text="One device's token id; all of the staff member's devices when absent.",
    )


# --- outputs -------------------------------------------------------------------------------


class TokenOutput(serializers.Serializer):
    token = serializers.CharField()
    expires_at = serializers.DateTimeField(help_text="When the token stops working; sign in again then.")


class StaffTokenOutput(serializers.Serializer):
    id = serializers.IntegerField()
    device = serializers.CharField()
    created_at = serializers.DateTimeField(help_text="When the device signed in.")
    expires_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True, help_text="Within five minutes.")


class TokensRevokedOutput(serializers.Serializer):
    revoked = serializers.IntegerField(help_text="How many devices were signed out.")


class StoreOutput(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    earns_loyalty = serializers.BooleanField(help_text="False: stamps and earns are refused here (409).")
    redeems_loyalty = serializers.BooleanField(help_text="False: redemptions are refused here (409).")


class StaffOutput(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField(source="user.username")
    name = serializers.SerializerMethodField()
    role = serializers.CharField()
    is_manager = serializers.BooleanField()
    merchant = serializers.CharField(source="merchant.name")
    stores = serializers.SerializerMethodField()
    has_pin = serializers.BooleanField()
    pin_locked_until = serializers.DateTimeField(allow_null=True)

    def get_name(self, staff: StaffMember) -> str:
        return staff.user.get_full_name() or staff.user.get_username()

    @extend_schema_field(StoreOutput(many=True))
    def get_stores(self, staff: StaffMember) -> list[dict]:
        return StoreOutput(stores_of(staff), many=True).data


class PinVerifyOutput(serializers.Serializer):
    verified = serializers.BooleanField()


class PinUnlockOutput(serializers.Serializer):
    unlocked = serializers.BooleanField()
    staff = StaffOutput()


class RewardOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    points_cost = serializers.IntegerField()


class StampRewardOutput(serializers.Serializer):
    id = serializers.IntegerField(
        allow_null=True, help_text="The reward_id to send to redeem-stamps; null for the program's own stamp reward."
    )
    name = serializers.CharField()
    description = serializers.CharField()
    stamps_cost = serializers.IntegerField()
    available = serializers.BooleanField(help_text="The card has the stamps for it now.")


class TierOutput(serializers.Serializer):
    name = serializers.CharField()
    min_points_12m = serializers.IntegerField()
    points_multiplier = serializers.DecimalField(max_digits=3, decimal_places=2)


class PromotionRefOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class TransactionOutput(serializers.Serializer):
    id = serializers.IntegerField()
    type = serializers.ChoiceField(choices=LoyaltyTransaction.Type.choices)
    type_display = serializers.CharField(source="type_label")
    stamps_delta = serializers.IntegerField()
    points_delta = serializers.IntegerField()
    stamps_after = serializers.IntegerField()
    points_after = serializers.IntegerField()
    purchase_amount = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)
    order_reference = serializers.CharField()
    reward_id = serializers.IntegerField(allow_null=True)
    reward_name = serializers.SerializerMethodField()
    reason = serializers.CharField()
    store = serializers.SerializerMethodField()
    staff = serializers.SerializerMethodField()
    approved_by = serializers.SerializerMethodField(
        help_text="The manager or owner who approved a redemption or void above the approval threshold."
    )
    related_transaction_id = serializers.IntegerField(allow_null=True)
    promotion = PromotionRefOutput(allow_null=True, help_text="The promotion that applied to this earn or stamp.")
    base_points = serializers.IntegerField(
        allow_null=True, help_text="An earn's points before tier and promotion: floor(amount x points_per_euro)."
    )
    base_stamps = serializers.IntegerField(allow_null=True, help_text="A stamp's stamps before a promotion's bonus.")
    points_multiplier = serializers.DecimalField(
        max_digits=6, decimal_places=4, allow_null=True, help_text="Tier multiplier x promotion multiplier applied."
    )
    points_voidable = serializers.SerializerMethodField(
        help_text="For a points_earn: the points a return can still void. Null for other types."
    )
    created_at = serializers.DateTimeField()

    def get_reward_name(self, row: LoyaltyTransaction) -> str | None:
        return row.reward.name if row.reward_id else None

    def get_store(self, row: LoyaltyTransaction) -> str | None:
        return row.store.code if row.store_id else None

    def get_staff(self, row: LoyaltyTransaction) -> str | None:
        return row.staff_user.get_username() if row.staff_user_id else None

    def get_approved_by(self, row: LoyaltyTransaction) -> str | None:
        return row.approved_by.get_username() if row.approved_by_id else None

    def get_points_voidable(self, row: LoyaltyTransaction) -> int | None:
        if row.type != LoyaltyTransaction.Type.POINTS_EARN:
            return None
        voided = getattr(row, "points_voided", None)
        if voided is None:
            voided = -sum(
                row.reversals.filter(type=LoyaltyTransaction.Type.POINTS_VOID).values_list("points_delta", flat=True)
            )
        return max(row.points_delta - voided, 0)


class CustomerSummaryOutput(serializers.Serializer):
    """Read from a CardDetail: the customer's name and the birthday flag (never the birth date)."""

    first_name = serializers.CharField(source="customer.first_name")
    last_name = serializers.CharField(source="customer.last_name")
    name = serializers.CharField(source="customer.full_name")
    birthday_week = serializers.BooleanField(help_text="The customer's birthday is within three days of today.")


class ProgramRulesOutput(serializers.Serializer):
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=["stamps", "points", "hybrid"])
    uses_stamps = serializers.BooleanField()
    uses_points = serializers.BooleanField()
    stamps_target = serializers.IntegerField()
    stamp_reward_description = serializers.CharField()
    stamp_cooldown_minutes = serializers.IntegerField()
    max_stamps_per_day = serializers.IntegerField(allow_null=True)
    points_per_euro = serializers.DecimalField(max_digits=8, decimal_places=2)
    min_purchase = serializers.DecimalField(max_digits=10, decimal_places=2)
    require_staff_pin = serializers.BooleanField()
    approval_threshold_points = serializers.IntegerField(
        allow_null=True, help_text="Above this many points a cashier's redemption or void needs a manager's approval."
    )


class CardOutput(serializers.Serializer):
    """A card as the POS shows it (from :class:`loyalty.selectors.CardDetail`)."""

    card_number = serializers.CharField(source="card.card_number")
    is_active = serializers.BooleanField(source="card.is_active")
    stamp_count = serializers.IntegerField(source="card.stamp_count")
    stamps_until_reward = serializers.IntegerField(source="card.stamps_until_reward")
    stamp_reward_available = serializers.BooleanField(source="card.stamp_reward_available")
    lifetime_stamps = serializers.IntegerField(source="card.lifetime_stamps")
    rewards_redeemed = serializers.IntegerField(source="card.rewards_redeemed")
    points_balance = serializers.IntegerField(source="card.points_balance")
    lifetime_points_earned = serializers.IntegerField(source="card.lifetime_points_earned")
    lifetime_points_redeemed = serializers.IntegerField(source="card.lifetime_points_redeemed")
    lifetime_points_voided = serializers.IntegerField(source="card.lifetime_points_voided")
    last_stamp_at = serializers.DateTimeField(source="card.last_stamp_at", allow_null=True)
    last_activity_at = serializers.DateTimeField(source="card.last_activity_at")
    issued_at = serializers.DateTimeField(source="card.created_at")
    customer = CustomerSummaryOutput(source="*")
    program = ProgramRulesOutput()
    rewards_affordable = RewardOutput(many=True)
    stamp_rewards = StampRewardOutput(
        many=True, help_text="The stamp ladder, cheapest first (empty when the program collects no stamps)."
    )
    tier = TierOutput(allow_null=True, help_text="The card's tier; null when it has none.")
    recent_transactions = TransactionOutput(many=True)


class MutationOutput(serializers.Serializer):
    transaction = TransactionOutput()
    card = CardOutput()


# The till's answers, made on every call. DRF deep-copies and binds a serializer's fields each
# time one is made (a third of a stamp's CPU); these are made once per process and only their
# to_representation() runs per answer (the output serializers keep no state and read no context).
CARD_ANSWER = CardOutput()
MUTATION_ANSWER = MutationOutput()


class ErrorInner(serializers.Serializer):
    code = serializers.CharField(help_text="snake_case, e.g. cooldown_active, insufficient_points, pin_locked.")
    message = serializers.CharField(help_text="Plain words a cashier can read.")
    details = serializers.DictField(help_text="Field errors for 400, facts about the refusal otherwise.")


class ErrorOutput(serializers.Serializer):
    error = ErrorInner()


class AlertOutput(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=Alert.Kind.choices)
    kind_display = serializers.CharField(source="get_kind_display")
    description = serializers.SerializerMethodField(help_text="What was found, in a sentence.")
    staff = serializers.SerializerMethodField(help_text="The staff member's username (staff alerts).")
    card_number = serializers.SerializerMethodField(help_text="The card (card_busy_day).")
    details = serializers.JSONField(help_text="The figures: counts, day, limit, points issued and voided.")
    created_at = serializers.DateTimeField()
    acknowledged_by = serializers.SerializerMethodField()
    acknowledged_at = serializers.DateTimeField(allow_null=True)

    def get_description(self, alert: Alert) -> str:
        from loyalty.services.alerts import describe

        return describe(alert)

    def get_staff(self, alert: Alert) -> str | None:
        return alert.staff.get_username() if alert.staff_id else None

    def get_card_number(self, alert: Alert) -> str | None:
        return alert.card.card_number if alert.card_id else None

    def get_acknowledged_by(self, alert: Alert) -> str | None:
        return alert.acknowledged_by.get_username() if alert.acknowledged_by_id else None


class AlertsQuery(serializers.Serializer):
    acknowledged = serializers.BooleanField(required=False, allow_null=True, default=None, help_text="Filter by state.")
