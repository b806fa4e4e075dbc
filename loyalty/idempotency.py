"""``Idempotency-Key`` for POS mutations: the first successful answer is kept and replayed.

The ledger decides, not a claim taken beforehand: every balance change writes its ledger row
with the key, and the ledger's unique index (merchant, key) lets it be written once. So a
first request costs one INSERT here, after it succeeded, keeping the bytes it answered:

- a retry finds the key on the ledger in the card's lock query (loyalty/services/ledger.py),
  and gets the kept bytes back, ``Idempotent-Replayed: true``, changing nothing;
- a retry arriving while the first still runs waits on the card's row lock, then finds the
  key the same way, or (when the first commits in between) hits the unique index: it answers
  with the first result too. A refusal such as a cooldown seen by such a retry is checked
  against the ledger before it is sent, so the client gets the first result, not the refusal;
- the same key with another body (or from another user) is a 409 ``idempotency_conflict``;
- a refused or failed operation wrote nothing, so a retry with the same key runs again
  (after the PIN is corrected, say).

If the process dies between the commit and keeping the answer, the ledger row still answers
a retry: the operation and the card as they are now.
"""

import datetime
import hashlib
import json
import re
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from core.errors import conflict, invalid
from core.prepared import insert_values
from loyalty.models import IdempotencyRecord

HEADER = "Idempotency-Key"
KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,100}$")  # visible ASCII; the ledger column holds 100
KEEP_FOR = datetime.timedelta(days=2)


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


def kept_answer(*, merchant_id: int, key: str, request_hash: str) -> bytes | None:
    """The bytes the first request with this key answered, or None if none were kept (yet).

    409 ``idempotency_conflict`` when the key was used for a different request.
    """
    kept = IdempotencyRecord.objects.filter(merchant_id=merchant_id, key=key).first()
    if kept is None or not kept.is_complete:
        return None
    if kept.request_hash != request_hash:
        raise conflict("idempotency_conflict", "This Idempotency-Key was already used for a different request.")
    return kept.response_body.encode()


def keep_answer(*, merchant_id: int, user_id: int, key: str, request_hash: str, status: int, body: bytes) -> None:
    """Keep the first answer for retries: one ``INSERT … ON CONFLICT DO NOTHING``.

    A concurrent keeper of the same key (its repeat, with the same operation's answer) wins
    without an error, so inside a caller's transaction no savepoint is needed either; outside
    one (a request in autocommit) the INSERT is its own transaction: one round trip.
    """
    now = timezone.now()
    record = IdempotencyRecord(
        merchant_id=merchant_id,
        user_id=user_id,
        key=key,
        request_hash=request_hash,
        status_code=status,
        response_body=body.decode(),
        started_at=now,
        completed_at=now,
    )
    connection = transaction.get_connection()
    sql, params = insert_values(record, connection)
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} ON CONFLICT DO NOTHING", params)


def purge_expired(*, now: datetime.datetime | None = None) -> int:
    """Delete records older than ``KEEP_FOR`` (clients retry within minutes, not days)."""
    cutoff = (now or timezone.now()) - KEEP_FOR
    deleted, _ = IdempotencyRecord.objects.filter(started_at__lt=cutoff).delete()
    return deleted
