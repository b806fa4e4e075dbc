"""OpenAPI pieces shared by the staff API views: error responses and the Idempotency-Key header."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

from loyalty.api.serializers import ErrorOutput

IDEMPOTENCY_KEY = OpenApiParameter(
    name="Idempotency-Key",
    location=OpenApiParameter.HEADER,
    type={"type": "string", "minLength": 1, "maxLength": 100, "pattern": r"^[\x21-\x7e]{1,100}$"},
    required=False,
    description=(
        "A fresh value (a UUID) per operation, reused on retries. A retry with the same key and body "
        "returns the first answer unchanged (header Idempotent-Replayed: true) and changes nothing; the "
        "same key with another body is a 409 idempotency_conflict; while the first request still runs a "
        "retry answers 409 idempotency_in_progress at once (retry a moment later). 1 to 100 visible ASCII characters."
    ),
)

_DESCRIPTIONS = {
    400: "Invalid input (`invalid_input`, or a specific code such as `unknown_store`, `store_required`, "
    "`unknown_reward`, `unknown_transaction`, `reason_required`, `invalid_amount`, `pin_required`, "
    "`invalid_idempotency_key`); `details` holds the field errors.",
    401: "Not authenticated (`not_authenticated`, `authentication_failed`, `invalid_credentials`), or the "
    "token no longer works: expired (`token_expired`), or this device signed out, signed out by a manager or "
    "issued before a password change (`token_revoked`). Sign in again.",
    403: "Not allowed: wrong role (`permission_denied`), not staff (`not_staff`), merchant inactive, "
    "wrong PIN (`invalid_pin`, details.attempts_left), no PIN set (`pin_not_set`) or unlocking one's own PIN "
    "(`cannot_unlock_own_pin`).",
    404: "Unknown card (`card_not_found`), including a card of another merchant; unknown staff member "
    "(`staff_not_found`), device (`token_not_found`) or page.",
    409: "A rule refused the operation: `cooldown_active`, `daily_limit_reached`, `insufficient_points`, "
    "`insufficient_stamps`, `card_inactive`, `duplicate_order`, `below_min_purchase`, `already_voided`, "
    "`stamps_not_enabled`, `points_not_enabled`, `idempotency_conflict`, `idempotency_in_progress`, "
    "`multiple_matches`.",
    415: "The body is not JSON (`unsupported_media_type`).",
    423: "The staff PIN is locked after five wrong PINs (`pin_locked`, details.locked_until); a manager can unlock.",
    429: "Rate limited (`rate_limited`, details.retry_after_seconds, header Retry-After).",
}


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    return {code: OpenApiResponse(ErrorOutput, description=_DESCRIPTIONS[code]) for code in statuses}
