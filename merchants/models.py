import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _


def phone_region(value: str) -> None:
    """An ISO 3166 alpha-2 country code libphonenumber knows (``FR``, ``BE``)."""
    if value not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationError("Use a two-letter country code in capitals, such as FR or BE.")


class Merchant(models.Model):
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60, unique=True)
    is_active = models.BooleanField(default=True)
    enrollment_open = models.BooleanField(
        default=True, help_text="When off, the public join page says enrollment is closed."
    )
    contact_email = models.EmailField(
        blank=True, help_text="Shown on the program's terms page as the address for questions about personal data."
    )
    terms = models.TextField(
        blank=True,
        help_text="Your own conditions, shown on the join page's terms page under the program rules (plain text).",
    )
    country = models.CharField(
        max_length=2,
        default="FR",
        validators=[phone_region],
        help_text="ISO 3166 country code (FR, BE…): phone numbers typed without +country are read as this country's.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Store(models.Model):
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="stores")
    code = models.CharField(
        max_length=30,
        validators=[RegexValidator(r"^[a-z0-9][a-z0-9_-]*$", "Use lower-case letters, digits, - and _.")],
        help_text="Short code used in URLs and by the POS, unique within the merchant.",
    )
    name = models.CharField(max_length=120)
    address = models.CharField(max_length=255, blank=True)
    is_active = models.BooleanField(default=True)
    # Participation in the loyalty program (a store being renovated, a franchise that opts out):
    # stamps and earns, and redemptions, are refused with 409 store_not_participating when off.
    earns_loyalty = models.BooleanField(
        "collects stamps and points", default=True, help_text="Off: no stamps or points are given at this store."
    )
    redeems_loyalty = models.BooleanField(
        "redeems rewards", default=True, help_text="Off: no reward can be redeemed at this store."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["merchant__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "code"], name="store_code_unique_per_merchant"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class StaffMember(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", _("Owner")
        MANAGER = "manager", _("Manager")
        CASHIER = "cashier", _("Cashier")

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_member")
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="staff")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.CASHIER)
    stores = models.ManyToManyField(Store, blank=True, related_name="staff")
    pin_hash = models.CharField(max_length=128, blank=True, editable=False)
    pin_failed_attempts = models.PositiveSmallIntegerField(default=0, editable=False)
    pin_locked_until = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["merchant__name", "user__username"]
        verbose_name = "staff member"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(role__in=["owner", "manager", "cashier"]), name="staff_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user.get_username()} ({self.get_role_display()}, {self.merchant})"

    @property
    def is_manager(self) -> bool:
        return self.role in (self.Role.OWNER, self.Role.MANAGER)

    @property
    def has_pin(self) -> bool:
        return bool(self.pin_hash)


class StaffToken(models.Model):
    """An API token of one signed-in device (``Authorization: Token <key>``).

    Only a SHA-256 of the key is kept. A token works until ``expires_at``, until it is revoked
    (the device signs out, a manager signs it out, the staff member is deactivated), and only
    while the user's password is the one it was issued under: ``password_hash`` is the user's
    ``get_session_auth_hash()`` at issue time, the HMAC Django compares to end sessions on a
    password change. merchants/tokens.py issues, checks and revokes them.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_tokens")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    device = models.CharField(max_length=100, blank=True, help_text="The device's name, or its browser's.")
    password_hash = models.CharField(max_length=128, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"
        indexes = [models.Index(fields=["user", "expires_at"], name="stafftoken_user_expires")]

    def __str__(self) -> str:
        return f"{self.device or 'device'} (token {self.pk})"
