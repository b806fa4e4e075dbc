"""Sending queued emails over the configured backend (SMTP in production), with retries.

A row is *leased* before it is sent (its next attempt pushed past the lease, committed), then
sent outside any transaction, then marked sent. Two workers never send one row at once, a
slow SMTP server never holds a database transaction open, and a worker that dies mid-send
leaves the row to be retried when the lease ends (at-least-once, as SMTP itself is).
"""

import datetime
import logging
import smtplib

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.utils import timezone

from notifications.models import OutboundEmail

logger = logging.getLogger(__name__)

LEASE = datetime.timedelta(minutes=5)
MAX_BACKOFF_SECONDS = 3600
# About three days of retries at the maximum backoff: an SMTP outage delays, never loses.
MAX_ATTEMPTS = 80


def due_email_ids(limit: int = 200, now: datetime.datetime | None = None) -> list[int]:
    now = now or timezone.now()
    return list(
        OutboundEmail.objects.filter(status=OutboundEmail.Status.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )


def deliver(email_id: int) -> bool:
    """Send one queued email if it is due and not leased by another worker. Returns whether it was sent."""
    email = _lease(email_id)
    if email is None:
        return False
    try:
        _send(email)
    except Exception as exc:  # noqa: BLE001 - every failure is retried (or given up on) below
        _record_failure(email, exc)
        return False
    OutboundEmail.objects.filter(pk=email.pk).update(
        status=OutboundEmail.Status.SENT, sent_at=timezone.now(), last_error=""
    )
    return True


def _lease(email_id: int) -> OutboundEmail | None:
    now = timezone.now()
    with transaction.atomic():
        email = (
            OutboundEmail.objects.select_for_update(skip_locked=True)
            .filter(pk=email_id, status=OutboundEmail.Status.PENDING, next_attempt_at__lte=now)
            .first()
        )
        if email is None:
            return None
        email.attempts += 1
        email.next_attempt_at = now + LEASE
        email.save(update_fields=["attempts", "next_attempt_at"])
    return email


def _send(email: OutboundEmail) -> None:
    message = EmailMultiAlternatives(
        subject=email.subject,
        body=email.body_text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[email.to_address],
        headers=email.headers or None,
        connection=get_connection(fail_silently=False),
    )
    if email.body_html:
        message.attach_alternative(email.body_html, "text/html")
    message.send()


def _record_failure(email: OutboundEmail, exc: Exception) -> None:
    error = f"{type(exc).__name__}: {exc}"[:2000]
    permanent = isinstance(exc, smtplib.SMTPRecipientsRefused) and _all_permanent(exc)
    if permanent or email.attempts >= MAX_ATTEMPTS:
        OutboundEmail.objects.filter(pk=email.pk).update(status=OutboundEmail.Status.FAILED, last_error=error)
        logger.error("email %s to %s given up after %d attempt(s): %s", email.pk, email.kind, email.attempts, error)
        return
    delay = min(15 * 2 ** min(email.attempts - 1, 12), MAX_BACKOFF_SECONDS)
    OutboundEmail.objects.filter(pk=email.pk).update(
        next_attempt_at=timezone.now() + datetime.timedelta(seconds=delay), last_error=error
    )
    logger.warning(
        "email %s (%s) failed, attempt %d, retry in %d s: %s", email.pk, email.kind, email.attempts, delay, error
    )


def _all_permanent(exc: smtplib.SMTPRecipientsRefused) -> bool:
    """A 5xx for every recipient: the address does not exist; retrying cannot help."""
    return bool(exc.recipients) and all(500 <= code < 600 for code, _ in exc.recipients.values())
