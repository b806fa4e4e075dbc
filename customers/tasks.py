"""Celery tasks of the customers app: thin wrappers around the services."""

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.db import InterfaceError, OperationalError

from customers import erasure

logger = logging.getLogger(__name__)


@shared_task(
    name="customers.tasks.erase_inactive_customers",
    acks_late=True,
    # Each customer is erased in its own transaction and erasing twice changes nothing: a retry
    # carries on with who is still due.
    autoretry_for=(OperationalError, InterfaceError, SoftTimeLimitExceeded),
    retry_backoff=60,
    retry_backoff_max=30 * 60,
    retry_jitter=True,
    max_retries=5,
    soft_time_limit=50 * 60,
    time_limit=55 * 60,
    ignore_result=True,
)
def erase_inactive_customers(merchant_slug: str | None = None) -> int:
    """The monthly retention job: erase customers inactive for longer than LOYALTY_RETENTION_DAYS."""
    report = erasure.erase_inactive_customers(merchant_slug=merchant_slug)
    if report.days is None:
        logger.info("retention: LOYALTY_RETENTION_DAYS is not set; nobody erased")
    else:
        logger.info("retention: %d customer(s) inactive for more than %d days erased", report.erased, report.days)
    return report.erased
