"""``Idempotency-Key`` for POS mutations: the first successful answer is kept and replayed.

A request with a key first *claims* it by inserting an :class:`IdempotencyRecord` (committed
at once, so a concurrent request with the same key sees it). Then:

- the operation succeeds: the record keeps the status and body; every later request with
  that key and the same body gets exactly that answer back and changes nothing;
- the operation is refused or fails: nothing changed (services are atomic), so the claim is
  released and a retry with the same key runs again (after the PIN is corrected, say);
- the same key with another body (or from another user) is a 409 ``idempotency_conflict``;
- a request arriving while the first is still running answers 409 ``idempotency_in_progress``
  at once (the client retries a moment later and then gets the first answer). It never runs
  the operation, and never holds a web worker waiting for another one.

A claim whose process died mid-way is taken over after ``STALE_AFTER``; the services also
dedupe by the ledger's idempotency key, so even then the operation applies once.
"""

import datetime
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import conflict, invalid
from loyalty.models import IdempotencyRecord

HEADER = "Idempotency-Key"
KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,100}$")  # visible ASCII; the ledger column holds 100
STALE_AFTER = datetime.timedelta(seconds=60)
KEEP_FOR = datetime.timedelta(days=2)


@dataclass(frozen=True)
class Outcome:
    status: int
    body: Any
    replayed: bool = False


def clean_key(raw: str | None) -> str:
    """The header's value, or ``""`` when absent; 400 ``invalid_idempotency_key`` when malformed (or empty)."""
    if raw is None:
        return ""
    if not KEY_PATTERN.match(raw):
        raise invalid(
            "invalid_idempotency_key",
            "The Idempotency-Key header must be 1 to 100 visible ASCII characters (a UUID is ideal).",
        )
    return raw


def fingerprint(*, user_id: int, operation: str, payload: Any) -> str:
    """A hash of who asked for what: same key + different fingerprint is a conflict."""
    canonical = json.dumps(
        {"user": user_id, "operation": operation, "payload": payload},
        sort_keys=True,
        separators=(",", ":"),
        cls=DjangoJSONEncoder,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def run_once(
    *, merchant_id: int, user_id: int, key: str, request_hash: str, perform: Callable[[], tuple[int, Any]]
) -> Outcome:
    """Run ``perform`` (returning status and JSON-able body) at most once for this key."""
    claimed = _claim(merchant_id=merchant_id, user_id=user_id, key=key, request_hash=request_hash)
    if isinstance(claimed, Outcome):
        return claimed
    try:
        status, body = perform()
    except BaseException:
        _release(claimed)
        raise
    if 200 <= status < 300:
        IdempotencyRecord.objects.filter(pk=claimed.pk).update(
            status_code=status, response_body=json.dumps(body, cls=DjangoJSONEncoder), completed_at=timezone.now()
        )
    else:
        _release(claimed)
    return Outcome(status=status, body=body)


def _claim(*, merchant_id: int, user_id: int, key: str, request_hash: str) -> IdempotencyRecord | Outcome:
    while True:
        try:
            return _insert_claim(merchant_id=merchant_id, user_id=user_id, key=key, request_hash=request_hash)
        except IntegrityError:
            pass  # the key is taken: look at who has it
        existing = IdempotencyRecord.objects.filter(merchant_id=merchant_id, key=key).first()
        if existing is None:
            continue  # released between our insert and our read: try to claim it again
        if existing.request_hash != request_hash:
            raise conflict(
                "idempotency_conflict",
                "This Idempotency-Key was already used for a different request.",
            )
        if existing.is_complete:
            return Outcome(status=existing.status_code, body=json.loads(existing.response_body), replayed=True)
        now = timezone.now()
        if existing.started_at < now - STALE_AFTER:
            taken = IdempotencyRecord.objects.filter(
                pk=existing.pk, started_at=existing.started_at, status_code__isnull=True
            ).update(started_at=now, user_id=user_id)
            if taken:
                existing.started_at = now
                return existing
            continue
        raise conflict(
            "idempotency_in_progress",
            "A request with this Idempotency-Key is still being processed; retry in a moment.",
            retry_after_seconds=1,
        )


def _insert_claim(*, merchant_id: int, user_id: int, key: str, request_hash: str) -> IdempotencyRecord:
    """Insert the claim, committed at once; IntegrityError when the key is taken.

    Outside a transaction (a request in autocommit) the INSERT is its own transaction: one
    round trip instead of BEGIN, INSERT, COMMIT. Inside one (a test, a caller's atomic block)
    a savepoint keeps the failed INSERT from breaking the caller's transaction.
    """
    fields = {"merchant_id": merchant_id, "user_id": user_id, "key": key, "request_hash": request_hash}
    if not transaction.get_connection().in_atomic_block:
        return IdempotencyRecord.objects.create(**fields)
    with transaction.atomic():
        return IdempotencyRecord.objects.create(**fields)


def _release(record: IdempotencyRecord) -> None:
    IdempotencyRecord.objects.filter(pk=record.pk, status_code__isnull=True).delete()


def purge_expired(*, now: datetime.datetime | None = None) -> int:
    """Delete records older than ``KEEP_FOR`` (clients retry within minutes, not days)."""
    cutoff = (now or timezone.now()) - KEEP_FOR
    deleted, _ = IdempotencyRecord.objects.filter(started_at__lt=cutoff).delete()
    return deleted
