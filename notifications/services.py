"""Queueing an email: a row in the caller's transaction, a nudge to the worker after commit."""

import logging

from django.db import IntegrityError, transaction

from notifications.models import OutboundEmail

logger = logging.getLogger(__name__)


def queue_email(
    *,
    merchant_id: int,
    to_address: str,
    subject: str,
    body_text: str,
    kind: str,
    body_html: str = "",
    customer_id: int | None = None,
    headers: dict[str, str] | None = None,
    dedupe_key: str = "",
) -> OutboundEmail | None:
    """Record an email for the worker to send; ``None`` when ``dedupe_key`` was already queued.

    Written in the caller's transaction, so an email about something that rolled back is
    never sent; the worker is nudged after commit, and the periodic sweep sends it anyway if
    the nudge is lost. Nothing here talks to SMTP.
    """
    fields = {
        "merchant_id": merchant_id,
        "customer_id": customer_id,
        "kind": kind,
        "to_address": to_address,
        "subject": " ".join(subject.split())[:255],
        "body_text": body_text,
        "body_html": body_html,
        "headers": headers or {},
        "dedupe_key": dedupe_key,
    }
    try:
        with transaction.atomic():
            email = OutboundEmail.objects.create(**fields)
    except IntegrityError:
        if not dedupe_key:
            raise
        logger.info("email %s already queued; not queued again", dedupe_key)
        return None
    transaction.on_commit(lambda: nudge_worker(email.pk))
    return email


def nudge_worker(email_id: int) -> None:
    from core import nudges
    from notifications.tasks import deliver_email

    nudges.publish(deliver_email, [(email_id,)], what="email")
