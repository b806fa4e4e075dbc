"""The one place the staff API formats errors: ``{"error": {"code", "message", "details"}}``.

Domain refusals (:class:`core.errors.LoyaltyError`, codes from :class:`core.errors.ErrorCode`) carry their own code and status;
DRF's validation errors become 400 with the field errors as details; authentication,
permission, 404, method and rate-limit errors keep DRF's status with a snake_case code; a body
Django refuses to read (over ``DATA_UPLOAD_MAX_MEMORY_SIZE``) is 413 ``request_too_large`` and a
body that is not JSON, or nested too deeply (loyalty/api/parsers.py), 400 ``parse_error``.
"""

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from core.errors import ErrorCode, LoyaltyError, codes_answered_with
from loyalty.api.parsers import MAX_BODY_BYTES, RequestTooLarge

logger = logging.getLogger(__name__)

# Validation codes the API raises on purpose (every 400 code of the vocabulary but the generic
# one). When they are the only problem with a request they become the error's code, so a
# client can react to them ("pick a store first").
DOMAIN_VALIDATION_CODES = frozenset(codes_answered_with(400)) - {ErrorCode.INVALID_INPUT}


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def exception_handler(exc: Exception, context: dict) -> Response | None:
    headers: dict[str, str] = {}
    if isinstance(exc, LoyaltyError):
        response = Response(error_body(exc.code, exc.message, exc.details), status=exc.status)
        if exc.status == status.HTTP_429_TOO_MANY_REQUESTS and "retry_after_seconds" in exc.details:
            headers["Retry-After"] = str(exc.details["retry_after_seconds"])
    elif isinstance(exc, exceptions.ValidationError):
        code, message, details = _validation(exc.detail)
        response = Response(error_body(code, message, details), status=status.HTTP_400_BAD_REQUEST)
    elif isinstance(exc, exceptions.Throttled):
        wait = int(exc.wait or 0) + (1 if exc.wait and exc.wait % 1 else 0)
        message = "Too many requests; wait a moment and try again."
        if wait:
            message = f"Too many requests; try again in {wait} second{'s' if wait != 1 else ''}."
            headers["Retry-After"] = str(wait)
        response = Response(
            error_body("rate_limited", message, {"retry_after_seconds": wait}),
            status=status.HTTP_429_TOO_MANY_REQUESTS,
        )
    elif isinstance(exc, exceptions.APIException):
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        response = Response(error_body(code, _text(exc.detail)), status=exc.status_code)
    elif isinstance(exc, RequestTooLarge | RequestDataTooBig | TooManyFieldsSent):
        # Over the API's own cap or over Django's (which is larger): the client needs the API's.
        response = Response(
            error_body("request_too_large", RequestTooLarge.default_detail, {"max_bytes": MAX_BODY_BYTES}),
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    elif isinstance(exc, Http404):
        response = Response(error_body("not_found", "Not found."), status=status.HTTP_404_NOT_FOUND)
    elif isinstance(exc, DjangoPermissionDenied):
        response = Response(
            error_body("permission_denied", "You are not allowed to do this."), status=status.HTTP_403_FORBIDDEN
        )
    else:
        view = context.get("view")
        logger.exception("Unhandled error in %s", type(view).__name__ if view else "the staff API")
        response = Response(
            error_body("server_error", "Something went wrong on our side; nothing was changed. Try again."),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    for name, value in headers.items():
        response[name] = value
    set_rollback()
    return response


def _validation(detail: Any) -> tuple[str, str, dict[str, Any]]:
    """(code, message, details) for a serializer's errors."""
    if not isinstance(detail, dict):
        detail = {"non_field_errors": detail if isinstance(detail, list) else [detail]}
    details = {field: _messages(errors) for field, errors in detail.items()}
    codes = {code for errors in detail.values() for code in _codes(errors)}
    code = codes.pop() if len(codes) == 1 and next(iter(codes)) in DOMAIN_VALIDATION_CODES else "invalid_input"
    parts = []
    for field, errors in detail.items():
        first = _first(errors)
        if first is None:
            continue
        # Our own messages are whole sentences; DRF's generic ones ("This field is required.") need the field.
        own = getattr(first, "code", None) in DOMAIN_VALIDATION_CODES
        label = field.replace("_", " ").capitalize()
        parts.append(str(first) if field == "non_field_errors" or own else f"{label}: {first}")
    return code, " ".join(parts) or "Invalid input.", details


def _first(errors: Any) -> Any:
    if isinstance(errors, dict):
        errors = list(errors.values())
    if isinstance(errors, list):
        for item in errors:
            found = _first(item)
            if found is not None:
                return found
        return None
    return errors


def _messages(errors: Any) -> list[str]:
    if isinstance(errors, dict):
        return [f"{key}: {message}" for key, value in errors.items() for message in _messages(value)]
    if isinstance(errors, list):
        return [message for item in errors for message in _messages(item)]
    return [str(errors)]


def _codes(errors: Any) -> list[str]:
    if isinstance(errors, dict):
        return [code for value in errors.values() for code in _codes(value)]
    if isinstance(errors, list):
        return [code for item in errors for code in _codes(item)]
    return [getattr(errors, "code", None) or "invalid"]


def _text(detail: Any) -> str:
    if isinstance(detail, list | tuple):
        return " ".join(_text(item) for item in detail)
    if isinstance(detail, dict):
        return " ".join(_text(item) for item in detail.values())
    return str(detail)
