"""The one error vocabulary: every code a client can receive, its HTTP status and what it means.

Services raise :class:`LoyaltyError` with an :class:`ErrorCode`; the API's one handler
(loyalty/api/errors.py) turns it into ``{"error": {"code", "message", "details"}}``, the OpenAPI
schema's error descriptions are written from this enum, and the tests check that no code is
used that is not listed here. Every app may import this module; it imports none.
"""

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """``code`` in the SPEC's error shape, with the status it is answered with."""

    def __new__(cls, value: str, status: int, description: str):
        member = str.__new__(cls, value)
        member._value_ = value
        member.status = status
        member.description = description
        return member

    # 400: the request itself is wrong
    INVALID_INPUT = "invalid_input", 400, "a field is missing or malformed; `details` holds the field errors"
    PARSE_ERROR = "parse_error", 400, "the body is not JSON, or is nested too deeply"
    UNKNOWN_STORE = "unknown_store", 400, "no store with this code where you work"
    STORE_REQUIRED = "store_required", 400, "choose the store you are working at"
    UNKNOWN_REWARD = "unknown_reward", 400, "no such active reward in the program"
    UNKNOWN_TRANSACTION = "unknown_transaction", 400, "no such earn, stamp or stamp redemption on this card to void"
    REASON_REQUIRED = "reason_required", 400, "a reason is required for this operation"
    INVALID_AMOUNT = "invalid_amount", 400, "the purchase amount is not a positive amount in cents"
    INVALID_POINTS = "invalid_points", 400, "the points are not a positive whole number within limits"
    QUERY_REQUIRED = "query_required", 400, "type a card number, QR code, email or phone"
    PIN_REQUIRED = "pin_required", 400, "the program requires the staff PIN"
    INVALID_PIN_FORMAT = "invalid_pin_format", 400, "a PIN is 4 to 6 digits"
    INVALID_IDEMPOTENCY_KEY = "invalid_idempotency_key", 400, "the Idempotency-Key header is malformed"
    INVALID_PUSH_TOKEN = "invalid_push_token", 400, "an Apple push token must be 1 to 512 hex/base64 characters"
    MERCHANT_MISMATCH = "merchant_mismatch", 400, "the objects belong to different merchants"
    INVALID_DATE = "invalid_date", 400, "a date is not written YYYY-MM-DD or does not exist"
    INVALID_PERIOD = "invalid_period", 400, "`from` is after `to`"
    DATE_IN_FUTURE = "date_in_future", 400, "the period ends after today"
    PERIOD_TOO_LONG = "period_too_long", 400, "a period is at most two years"
    INVALID_MONTH = "invalid_month", 400, "a month is written YYYY-MM"
    MONTH_IN_FUTURE = "month_in_future", 400, "that month has not started yet"
    # 401: who is asking is unknown
    NOT_AUTHENTICATED = "not_authenticated", 401, "sign in first"
    AUTHENTICATION_FAILED = "authentication_failed", 401, "unknown token, or the user is inactive"
    INVALID_CREDENTIALS = "invalid_credentials", 401, "wrong username or password"
    TOKEN_EXPIRED = "token_expired", 401, "the token's working day is over: sign in again"
    TOKEN_REVOKED = "token_revoked", 401, "this device was signed out, or the password changed"
    # 403: known, but not allowed
    PERMISSION_DENIED = "permission_denied", 403, "your role does not allow this"
    NOT_STAFF = "not_staff", 403, "this account is not a staff member"
    MERCHANT_INACTIVE = "merchant_inactive", 403, "the merchant is switched off"
    INVALID_PIN = "invalid_pin", 403, "wrong PIN; `details.attempts_left`"
    PIN_NOT_SET = "pin_not_set", 403, "no PIN yet; a manager sets one"
    APPROVAL_REQUIRED = (
        "approval_required",
        403,
        "above the program's approval threshold a cashier needs a manager's `approver` and `approver_pin`",
    )
    CANNOT_UNLOCK_OWN_PIN = "cannot_unlock_own_pin", 403, "nobody lifts their own PIN lockout"
    # 404
    NOT_FOUND = "not_found", 404, "no such page or object"
    CARD_NOT_FOUND = "card_not_found", 404, "no such card at your merchant (another merchant's card included)"
    STAFF_NOT_FOUND = "staff_not_found", 404, "no such staff member at your merchant"
    STORE_NOT_FOUND = "store_not_found", 404, "that store belongs to another merchant"
    TOKEN_NOT_FOUND = "token_not_found", 404, "no such device for this staff member"
    REWARD_NOT_FOUND = (
        "reward_not_found",
        404,
        "no such active reward in the card's program (another merchant's included)",
    )
    CUSTOMER_NOT_FOUND = "customer_not_found", 404, "no such customer at your merchant (another merchant's included)"
    # 405, 406, 413, 415
    METHOD_NOT_ALLOWED = "method_not_allowed", 405, "this path does not take that HTTP method"
    NOT_ACCEPTABLE = "not_acceptable", 406, "the API answers JSON only"
    REQUEST_TOO_LARGE = "request_too_large", 413, "the body is larger than the API accepts; `details.max_bytes`"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type", 415, "send the body as application/json"
    # 409: a rule refused the operation
    COOLDOWN_ACTIVE = "cooldown_active", 409, "the card was stamped moments ago"
    DAILY_LIMIT_REACHED = "daily_limit_reached", 409, "the card has today's maximum of stamps"
    INSUFFICIENT_POINTS = "insufficient_points", 409, "the balance is too low"
    INSUFFICIENT_STAMPS = "insufficient_stamps", 409, "not enough stamps for the reward"
    CARD_INACTIVE = "card_inactive", 409, "the card or its program is switched off"
    CARD_DELETED = "card_deleted", 409, "the card was deleted"
    CARD_EXISTS = "card_exists", 409, "the customer already has a card here"
    DUPLICATE_ORDER = "duplicate_order", 409, "this order reference already earned points"
    BELOW_MIN_PURCHASE = "below_min_purchase", 409, "the purchase is below the program's minimum"
    ALREADY_VOIDED = "already_voided", 409, "that earn, stamp or redemption was voided already"
    VOID_WINDOW_CLOSED = "void_window_closed", 409, "a stamp or stamp redemption can be voided only on its day"
    STAMPS_NOT_ENABLED = "stamps_not_enabled", 409, "the program has no stamps"
    POINTS_NOT_ENABLED = "points_not_enabled", 409, "the program has no points"
    IDEMPOTENCY_CONFLICT = "idempotency_conflict", 409, "the Idempotency-Key was used for another request"
    IDEMPOTENCY_IN_PROGRESS = "idempotency_in_progress", 409, "the first request with this key still runs: retry"
    MULTIPLE_MATCHES = "multiple_matches", 409, "the search matches several cards: be more precise"
    ENROLLMENT_CLOSED = "enrollment_closed", 409, "the merchant is not taking new members"
    EMAIL_TAKEN = "email_taken", 409, "another customer of the merchant has this email"
    STORE_NOT_PARTICIPATING = (
        "store_not_participating",
        409,
        "this store does not give stamps and points, or does not redeem rewards (`details.store`, `details.operation`)",
    )
    WRONG_REWARD_KIND = (
        "wrong_reward_kind",
        409,
        "a points reward sent to redeem-stamps, or a stamps reward to redeem-points",
    )
    TOO_MANY_PROMOTIONS = "too_many_promotions", 409, "a program runs at most 10 active promotions"
    # 423, 429, 500
    PIN_LOCKED = "pin_locked", 423, "five wrong PINs: locked for 30 minutes; `details.locked_until`"
    RATE_LIMITED = "rate_limited", 429, "too many requests; `details.retry_after_seconds`, header Retry-After"
    SERVER_ERROR = "server_error", 500, "a bug on our side; nothing was changed"


class LoyaltyError(Exception):
    """A rule refused an operation. ``status`` is the HTTP status the API answers with."""

    def __init__(self, code: str, message: str, *, status: int | None = None, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.code = ErrorCode(code)  # a code outside the vocabulary fails loudly, here
        self.message = message
        self.status = status or self.code.status
        self.details = details or {}

    def __repr__(self) -> str:
        return f"LoyaltyError({str(self.code)!r}, {self.message!r})"


def invalid(code: str, message: str, **details: Any) -> LoyaltyError:
    return LoyaltyError(code, message, status=400, details=details)


def conflict(code: str, message: str, **details: Any) -> LoyaltyError:
    return LoyaltyError(code, message, status=409, details=details)


def forbidden(message: str, **details: Any) -> LoyaltyError:
    return LoyaltyError(ErrorCode.PERMISSION_DENIED, message, status=403, details=details)


def codes_answered_with(status: int) -> list[ErrorCode]:
    return [code for code in ErrorCode if code.status == status]
