"""Celery tasks of the loyalty app: thin wrappers around the services."""

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.db import InterfaceError, OperationalError

from loyalty import services
from loyalty.services import alerts

logger = logging.getLogger(__name__)


@shared_task(
    name="loyalty.tasks.expire_points",
    acks_late=True,
    # Every committed batch stays done, so a retry (after a database hiccup or a run that
    # hit its soft time limit) carries on where the previous attempt stopped.
    autoretry_for=(OperationalError, InterfaceError, SoftTimeLimitExceeded),
    retry_backoff=60,
    retry_backoff_max=30 * 60,
    retry_jitter=True,
    max_retries=5,
    soft_time_limit=50 * 60,
    time_limit=55 * 60,
    ignore_result=True,
)
def expire_points(merchant_slug: str | None = None) -> dict[str, int]:
    """The nightly expiration (all merchants, or one). Idempotent: a rerun expires nothing twice."""

    def log_batch(report: services.ExpiryReport) -> None:
        logger.info("points expiry: %d cards, %d points so far", report.cards, report.points)

    report = services.expire_points(merchant_slug=merchant_slug, on_batch=log_batch)
    logger.info("points expiry done: %d points expired on %d cards", report.points, report.cards)
    return {"cards": report.cards, "points": report.points}


@shared_task(
    name="loyalty.tasks.purge_idempotency_records",
    acks_late=True,
    ignore_result=True,
    soft_time_limit=540,
    time_limit=600,
)
def purge_idempotency_records() -> int:
    """Forget stored POS answers older than two days (clients retry within minutes)."""
    from loyalty.idempotency import purge_expired

    return purge_expired()


@shared_task(
    name="loyalty.tasks.grant_birthday_rewards",
    acks_late=True,
    # Each card is its own transaction and the ledger's unique constraint allows one bonus per
    # card and year, so a retry (or a second beat) grants only what is still due.
    autoretry_for=(OperationalError, InterfaceError, SoftTimeLimitExceeded),
    retry_backoff=60,
    retry_backoff_max=30 * 60,
    retry_jitter=True,
    max_retries=5,
    soft_time_limit=50 * 60,
    time_limit=55 * 60,
    ignore_result=True,
)
def grant_birthday_rewards(merchant_slug: str | None = None) -> dict[str, int]:
    """The daily birthday bonuses (today in TIME_ZONE). Idempotent."""
    report = services.grant_birthday_rewards(merchant_slug=merchant_slug)
    logger.info(
        "birthday rewards: %d card(s), %d point(s), %d stamp(s)", len(report.granted), report.points, report.stamps
    )
    return {"cards": len(report.granted), "points": report.points, "stamps": report.stamps}


@shared_task(
    name="loyalty.tasks.send_expiry_reminders",
    acks_late=True,
    # One reminder per card and expiry date (a unique constraint): a retry reminds nobody twice.
    autoretry_for=(OperationalError, InterfaceError, SoftTimeLimitExceeded),
    retry_backoff=60,
    retry_backoff_max=30 * 60,
    retry_jitter=True,
    max_retries=5,
    soft_time_limit=50 * 60,
    time_limit=55 * 60,
    ignore_result=True,
)
def send_expiry_reminders(merchant_slug: str | None = None) -> dict[str, int]:
    """The daily points expiry reminders. Idempotent."""
    report = services.send_expiry_reminders(merchant_slug=merchant_slug)
    emailed = sum(1 for notice in report.sent if notice.email)
    logger.info("expiry reminders: %d card(s), %d email(s)", len(report.sent), emailed)
    return {"cards": len(report.sent), "emails": emailed}


@shared_task(
    name="loyalty.tasks.review_tiers",
    acks_late=True,
    # Each batch is its own transaction and the review puts a card where its points say: a retry
    # (or a second beat) changes nothing that is already right.
    autoretry_for=(OperationalError, InterfaceError, SoftTimeLimitExceeded),
    retry_backoff=60,
    retry_backoff_max=30 * 60,
    retry_jitter=True,
    max_retries=5,
    soft_time_limit=50 * 60,
    time_limit=55 * 60,
    ignore_result=True,
)
def review_tiers(merchant_slug: str | None = None) -> dict[str, int]:
    """The nightly tier review: every card in the tier its last 365 days give it. Idempotent."""
    report = services.review_tiers(merchant_slug=merchant_slug)
    logger.info("tier review: %d card(s) reviewed, %d up, %d down", report.cards, report.up, report.down)
    return {"cards": report.cards, "up": report.up, "down": report.down}


@shared_task(
    name="loyalty.tasks.detect_anomalies",
    acks_late=True,
    # Each fact is raised once (unique per merchant) and the digest is deduplicated per day: a
    # retry or a second beat raises and sends nothing twice.
    autoretry_for=(OperationalError, InterfaceError, SoftTimeLimitExceeded),
    retry_backoff=60,
    retry_backoff_max=30 * 60,
    retry_jitter=True,
    max_retries=5,
    ignore_result=True,
)
def detect_anomalies() -> dict[str, int]:
    """The nightly anomaly detection, then the owners' digest of the new alerts."""
    report = alerts.detect_anomalies()
    emails = alerts.send_alert_digests()
    logger.info("anomalies: %d new alert(s), %d digest email(s)", len(report.new), emails)
    return {"alerts": len(report.new), "emails": emails}
