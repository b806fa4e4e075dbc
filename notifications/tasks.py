"""Celery tasks sending the email queue: a nudge per email, and a periodic sweep."""

import logging
import time

from celery import shared_task
from django.db import InterfaceError, OperationalError

from notifications import delivery

logger = logging.getLogger(__name__)

SWEEP_TIME_BUDGET_SECONDS = 50
# SMTP down: each try may cost the connection timeout; stop and let the backoff work.
MAX_FAILURES_IN_A_ROW = 3


@shared_task(
    name="notifications.tasks.deliver_email",
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=5,
    soft_time_limit=60,
    time_limit=90,
    ignore_result=True,
)
def deliver_email(email_id: int) -> bool:
    """Send one queued email if it is still due (a duplicate message does nothing)."""
    return delivery.deliver(email_id)


@shared_task(
    name="notifications.tasks.sweep_emails",
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=10,
    retry_backoff_max=300,
    max_retries=3,
    soft_time_limit=240,
    time_limit=300,
    ignore_result=True,
)
def sweep_emails(time_budget: float = SWEEP_TIME_BUDGET_SECONDS) -> int:
    """Send every due email: the ones whose nudge was lost and the retries whose backoff ended."""
    deadline = time.monotonic() + time_budget
    sent = failures_in_a_row = 0
    while time.monotonic() < deadline and (email_ids := delivery.due_email_ids()):
        for email_id in email_ids:
            if time.monotonic() >= deadline or failures_in_a_row >= MAX_FAILURES_IN_A_ROW:
                break
            if delivery.deliver(email_id):
                sent += 1
                failures_in_a_row = 0
            else:
                failures_in_a_row += 1
        else:
            continue
        break  # out of time, or SMTP is down: the rows wait for their backoff and the next sweep
    if sent:
        logger.info("email sweep sent %d email(s)", sent)
    return sent
