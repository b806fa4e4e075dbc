"""The staff API's JSON parser: DRF's, with a bound on size and on nesting.

A till's request body is a small flat object (well under 1 KB). Anything over
``MAX_BODY_BYTES`` is refused with 413 ``request_too_large``, whatever Django would accept.

Python's JSON decoder recurses once per ``[`` or ``{``: a body of 100,000 ``[`` exhausts the
stack (RecursionError, a 500). Every request body of the API is a flat object, so anything
nested deeper than ``MAX_DEPTH`` is refused as a parse error (400 ``parse_error``) before a
serializer, the idempotency fingerprint or the error handler walks it.

Bodies over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (2.5 MiB) never reach the parser: Django refuses to
read them (``RequestDataTooBig``); loyalty/api/errors.py answers both with the same 413.
"""

import io
from typing import Any

from rest_framework import parsers, status
from rest_framework.exceptions import APIException, ParseError

MAX_BODY_BYTES = 256 * 1024
MAX_DEPTH = 32
TOO_DEEP = f"The JSON body is nested too deeply (at most {MAX_DEPTH} levels of arrays and objects)."


def nesting_depth(value: Any) -> int:
    """How many arrays and objects deep ``value`` goes (0 for a scalar); iterative, no recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


class RequestTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"
    default_detail = f"The request body is too large (at most {MAX_BODY_BYTES:,} bytes)."


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read(MAX_BODY_BYTES + 1)
        if len(raw) > MAX_BODY_BYTES:
            raise RequestTooLarge()
        try:
            data = super().parse(io.BytesIO(raw), media_type, parser_context)
        except RecursionError:
            raise ParseError(TOO_DEEP) from None
        if nesting_depth(data) > MAX_DEPTH:
            raise ParseError(TOO_DEEP)
        return data
