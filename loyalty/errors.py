"""The one domain error. Its code is part of the API contract (../shared/SPEC.md)."""

from typing import Any


class LoyaltyError(Exception):
    """A rule refused an operation. ``status`` is the HTTP status the API answers with."""

    def __init__(self, code: str, message: str, *, status: int = 409, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.details = details or {}

    def __repr__(self) -> str:
        return f"LoyaltyError({self.code!r}, {self.message!r})"


def invalid(code: str, message: str, **details: Any) -> LoyaltyError:
    return LoyaltyError(code, message, status=400, details=details)


def conflict(code: str, message: str, **details: Any) -> LoyaltyError:
    return LoyaltyError(code, message, status=409, details=details)


def forbidden(message: str, **details: Any) -> LoyaltyError:
    return LoyaltyError("permission_denied", message, status=403, details=details)
