from django.db import models
from django.utils import timezone

from merchants.models import Merchant


class OutboundEmail(models.Model):
    """The durable email queue: one row per email, written by the service that decides to send it.

    The row is rendered in full (subject, text, HTML, headers) when it is queued, in the
    recipient's language, so the worker only transmits it. An SMTP outage leaves rows pending
    and retried with backoff; none is lost.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed (gave up)"

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="emails")
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.SET_NULL, null=True, blank=True, related_name="emails"
    )
    kind = models.CharField(max_length=40)
    to_address = models.EmailField(max_length=254)
    subject = models.CharField(max_length=255)
    body_text = models.TextField()
    body_html = models.TextField(blank=True)
    headers = models.JSONField(default=dict, blank=True)
    # Set when one fact must never be emailed twice (a reminder per expiry date, say).
    dedupe_key = models.CharField(max_length=150, blank=True)

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "email"
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "dedupe_key"],
                condition=~models.Q(dedupe_key=""),
                name="email_dedupe_key_unique_per_merchant",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["pending", "sent", "failed"]), name="email_status_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=models.Q(status="pending"), name="email_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.to_address} ({self.status})"
