"""OpenAPI pieces shared by the staff API views: error responses and the Idempotency-Key header."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

from core.errors import codes_answered_with
from loyalty.api.serializers import ErrorOutput

IDEMPOTENCY_KEY = OpenApiParameter(
    name="Idempotency-Key",
    location=OpenApiParameter.HEADER,
    type={"type": "string", "minLength": 1, "maxLength": 100, "pattern": r"^[\x21-\x7e]{1,100}$"},
    required=False,
    description=(
        "A fresh value (a UUID) per operation, reused on retries. A retry with the same key and body "
        "returns the first answer unchanged (header Idempotent-Replayed: true) and changes nothing; the "
        "same key with another body is a 409 idempotency_conflict; a retry sent while the first request still "
        "runs waits for it (the card's lock) and gets its answer. 1 to 100 visible ASCII characters."
    ),
)

_SUMMARIES = {
    400: "Invalid input; `details` holds the field errors.",
    401: "Not authenticated, or the token no longer works: sign in again.",
    403: "Not allowed.",
    404: "Not found (another merchant's object included).",
    405: "Method not allowed.",
    406: "Not acceptable.",
    409: "A rule refused the operation; nothing changed.",
    413: "Body too large.",
    415: "Unsupported media type.",
    423: "Locked.",
    429: "Rate limited.",
}


def describe(status: int) -> str:
    """The error description of one status, written from the one vocabulary (core.errors.ErrorCode)."""
    codes = "; ".join(f"`{code}`: {code.description}" for code in codes_answered_with(status))
    return f"{_SUMMARIES[status]} Codes: {codes}."


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    return {code: OpenApiResponse(ErrorOutput, description=describe(code)) for code in statuses}
