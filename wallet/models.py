from django.db import models
from django.utils import timezone

from loyalty.models import LoyaltyCard, LoyaltyProgram


class AppleDeviceRegistration(models.Model):
    """A device that added a card's pass to Apple Wallet and wants pushes for it."""

    merchant_path = "card__merchant"

    device_library_identifier = models.CharField(max_length=255)
    # Push tokens are opaque and of any length (a 164-character one overflowed a varchar(150)).
    push_token = models.TextField()
    card = models.ForeignKey(LoyaltyCard, on_delete=models.CASCADE, related_name="apple_registrations")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_pushed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["device_library_identifier", "card"], name="apple_registration_unique_per_device_card"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.device_library_identifier} → {self.card_id}"


class WalletUpdate(models.Model):
    """Transactional outbox: a card whose wallet passes must be refreshed.

    Written in the same transaction as the balance change; at most one pending row per
    card, so many changes within the delivery window coalesce into one update.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    merchant_path = "card__merchant"

    card = models.ForeignKey(LoyaltyCard, on_delete=models.CASCADE, related_name="wallet_updates")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["card"], condition=models.Q(status="pending"), name="wallet_update_one_pending_per_card"
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"], condition=models.Q(status="pending"), name="wallet_update_due_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"wallet update for card {self.card_id} ({self.status})"


class GoogleWalletClass(models.Model):
    """The Google Wallet loyalty class of a program, and the program version it reflects.

    A class is inserted once and patched only when the program's branding changed, so a
    balance change costs exactly one request to Google (the object's patch).
    """

    merchant_path = "program__merchant"

    program = models.OneToOneField(LoyaltyProgram, on_delete=models.CASCADE, related_name="google_wallet_class")
    class_id = models.CharField(max_length=200)
    program_updated_at = models.DateTimeField()
    synced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "Google Wallet class"

    def __str__(self) -> str:
        return self.class_id


class WalletPass(LoyaltyCard):
    """A card seen from the wallet side (admin only): its passes, devices and pending updates."""

    class Meta:
        proxy = True
        verbose_name = "wallet pass"
        verbose_name_plural = "wallet passes"
