from django.conf import settings
from django.db import models
from django.db.models import F
from django.db.models.functions import Lower, Upper
from django.utils import timezone

from core.indexes import PatternOps
from merchants.models import Merchant


class Customer(models.Model):
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="customers")
    first_name = models.CharField(max_length=60)
    last_name = models.CharField(max_length=60)
    # Stored lower-cased by the enrollment service; the constraint also guards case.
    email = models.EmailField(max_length=254)
    phone = models.CharField(max_length=20, blank=True)
    birth_date = models.DateField(null=True, blank=True)
    # Who changed the birth date after enrollment, and when (the customer never does; the
    # birthday bonus waits 30 days after a change).
    birth_date_changed_at = models.DateTimeField(null=True, blank=True)
    birth_date_changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    terms_accepted_at = models.DateTimeField(null=True, blank=True)
    marketing_opt_in = models.BooleanField(default=False)
    # No email at all (reminders, birthday wishes); set on the preferences page or by one-click unsubscribe.
    email_opt_out = models.BooleanField(default=False)
    preferred_language = models.CharField(max_length=8, choices=settings.LANGUAGES, default=settings.LANGUAGE_CODE)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Set when the customer's personal data was erased (customers/erasure.py); the row stays for the ledger.
    erased_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["last_name", "first_name"]
        constraints = [
            models.UniqueConstraint("merchant", Lower("email"), name="customer_email_unique_per_merchant"),
        ]
        indexes = [
            models.Index(fields=["merchant", "email"], name="customer_email_idx"),
            models.Index(fields=["merchant", "phone"], name="customer_phone_idx"),
            # The admin's name search, a prefix of the first or last name in any case (loyalty/admin_search.py).
            models.Index(F("merchant"), PatternOps(Upper("last_name")), name="customer_last_name_prefix_idx"),
            models.Index(F("merchant"), PatternOps(Upper("first_name")), name="customer_first_name_prefix_idx"),
            # The admin's list, newest first.
            models.Index(fields=["merchant", "created_at"], name="customer_merchant_created_idx"),
        ]

    def __str__(self) -> str:
        return self.full_name

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class Erasure(models.Model):
    """The record that a customer's personal data was erased: who, when, why. Holds no personal data."""

    class Source(models.TextChoices):
        ADMIN = "admin", "Admin"
        API = "api", "API"
        RETENTION = "retention", "Retention job"
        COMMAND = "command", "Command"

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="erasures")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="erasures")
    erased_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    source = models.CharField(max_length=10, choices=Source.choices)
    reason = models.CharField(max_length=255)
    cards = models.PositiveIntegerField(default=0, help_text="Cards deactivated and revoked from the wallets.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["customer"], name="erasure_once_per_customer")]

    def __str__(self) -> str:
        return f"Erasure of customer {self.customer_id} ({self.created_at:%Y-%m-%d})"
