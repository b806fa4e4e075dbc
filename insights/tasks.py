"""The roll-up job (every minute, from beat)."""

from celery import shared_task
from django.db import InterfaceError, OperationalError

from insights.rollup import roll_up


@shared_task(
    name="insights.tasks.roll_up_ledger",
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=10,
    max_retries=3,
    soft_time_limit=240,
    time_limit=300,
    ignore_result=True,
)
def roll_up_ledger() -> int:
    """Add the ledger rows written since the last run to the daily roll-up. Idempotent."""
    return roll_up()
