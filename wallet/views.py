"""The wallet endpoints: Apple's PassKit web service, the card's .pkpass download, Google's program logo.

The web service follows Apple's protocol exactly (paths and status codes in ../shared/SPEC.md):
Wallet on the customer's phone is the client, authenticated by ``Authorization: ApplePass
<authenticationToken>`` on register, unregister and the pass download.
"""

import hmac
import json
import logging
import math
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.http import http_date, parse_http_date_safe
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_ratelimit.core import is_ratelimited

from loyalty.api.errors import error_body
from loyalty.api.parsers import MAX_DEPTH, TOO_DEEP, nesting_depth
from loyalty.models import LoyaltyCard, LoyaltyProgram
from wallet import branding
from wallet.apple import PKPASS_CONTENT_TYPE, build_pkpass, registrations
from wallet.apple.tags import parse_update_tag, update_tag
from wallet.switches import is_apple_wallet_enabled, is_google_wallet_enabled

logger = logging.getLogger(__name__)

MAX_LOG_ENTRIES = 50
MAX_LOG_MESSAGE = 1000
MAX_LOG_BODY = 64 * 1024


def _require_apple() -> None:
    if not is_apple_wallet_enabled():
        raise Http404("Apple Wallet is not configured.")


def _require_pass_type(pass_type_id: str) -> None:
    _require_apple()
    if pass_type_id != settings.LOYALTY_APPLE_PASS_TYPE_ID:
        raise Http404("Unknown pass type.")


def _card_by_serial(serial: str) -> LoyaltyCard | None:
    return (
        LoyaltyCard.objects.select_related("program__merchant", "merchant", "customer")
        .filter(apple_serial_number=serial)
        .first()
    )


def _authenticated(request: HttpRequest, card: LoyaltyCard | None) -> bool:
    """``Authorization: ApplePass <token>`` equals the card's token, compared in constant time."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    expected = card.apple_auth_token if card is not None else "-" * 43
    matches = hmac.compare_digest(token.strip().encode(), expected.encode())
    return scheme == "ApplePass" and card is not None and matches


def _unauthorized() -> HttpResponse:
    return HttpResponse(status=401)


def _error(status: int, code: str, message: str, details: dict | None = None) -> JsonResponse:
    return JsonResponse(error_body(code, message, details), status=status)


def _json_body(request: HttpRequest, limit: int) -> tuple[Any, HttpResponse | None]:
    """The request's JSON body, or the answer refusing it: 413 over ``limit`` bytes, 400 unreadable.

    Wallet sends a few hundred bytes; checking Content-Length first means a large body is never read.
    """
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = -1
    if length < 0:
        return None, _error(400, "invalid_input", "Content-Length is not a number of bytes.")
    if length > limit:
        message = f"The request body is too large (at most {limit:,} bytes)."
        return None, _error(413, "request_too_large", message, {"max_bytes": limit})
    if not request.body:
        return {}, None
    try:
        body = json.loads(request.body)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None, _error(400, "parse_error", "The request body is not valid JSON.")
    if nesting_depth(body) > MAX_DEPTH:
        return None, _error(400, "parse_error", TOO_DEEP)
    return body, None


def _pass_response(card: LoyaltyCard) -> HttpResponse:
    response = HttpResponse(build_pkpass(card), content_type=PKPASS_CONTENT_TYPE)
    response["Last-Modified"] = http_date(_last_modified_seconds(card))
    response["ETag"] = f'"{update_tag(card.updated_at)}"'
    # The pass carries the card's authentication token: never kept by a shared cache.
    response["Cache-Control"] = "private, no-cache"
    return response


def _last_modified_seconds(card: LoyaltyCard) -> int:
    """Last-Modified has whole seconds; the card changes at microsecond precision.

    A version served while its second is still running may be followed by another one in
    the same second. Such a version gets the previous second, so the device's next
    If-Modified-Since can never hide a later change of that second (it costs at most one
    extra download).
    """
    modified = card.updated_at.timestamp()
    second = math.floor(modified)
    return second if timezone.now().timestamp() >= second + 1 else second - 1


def _not_modified(request: HttpRequest, card: LoyaltyCard) -> bool:
    if etags := request.headers.get("If-None-Match"):
        return f'"{update_tag(card.updated_at)}"' in [tag.strip() for tag in etags.split(",")]
    since = parse_http_date_safe(request.headers.get("If-Modified-Since", ""))
    return since is not None and math.floor(card.updated_at.timestamp()) <= since


# --- Apple PassKit web service -----------------------------------------------------------


@csrf_exempt
@require_http_methods(["POST", "DELETE"])
def apple_registration(request: HttpRequest, device: str, pass_type_id: str, serial: str) -> HttpResponse:
    """POST registers the device for the pass's pushes (201 new, 200 known); DELETE unregisters (200)."""
    _require_pass_type(pass_type_id)
    card = _card_by_serial(serial)
    if not _authenticated(request, card):
        return _unauthorized()
    if request.method == "DELETE":
        registrations.unregister_device(device=device, card=card)
        return HttpResponse(status=200)
    body, refusal = _json_body(request, settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    if refusal is not None:
        return refusal
    push_token = body.get("pushToken") if isinstance(body, dict) else None
    if not isinstance(push_token, str) or not push_token.strip():
        return _error(400, "invalid_input", "pushToken is required.", {"pushToken": ["This field is required."]})
    push_token = push_token.strip()
    if not registrations.is_valid_push_token(push_token):
        limit = registrations.MAX_PUSH_TOKEN_LENGTH
        message = f"pushToken must be 1 to {limit} hexadecimal or base64 characters."
        return _error(400, "invalid_push_token", message, {"pushToken": [message]})
    created = registrations.register_device(device=device, card=card, push_token=push_token)
    return HttpResponse(status=201 if created else 200)


@require_GET
def apple_serial_numbers(request: HttpRequest, device: str, pass_type_id: str) -> HttpResponse:
    """Every pass of the device updated after ``passesUpdatedSince`` (all without it); 204 when none."""
    _require_pass_type(pass_type_id)
    cards = LoyaltyCard.objects.filter(apple_registrations__device_library_identifier=device)
    since = parse_update_tag(request.GET.get("passesUpdatedSince"))
    if since is not None:
        cards = cards.filter(updated_at__gt=since)
    rows = list(cards.order_by("updated_at").values_list("apple_serial_number", "updated_at"))
    if not rows:
        return HttpResponse(status=204)
    return JsonResponse(
        {"serialNumbers": [serial for serial, _ in rows], "lastUpdated": update_tag(max(at for _, at in rows))}
    )


@require_GET
def apple_pass(request: HttpRequest, pass_type_id: str, serial: str) -> HttpResponse:
    """The latest pass, or 304 when the device's copy is current."""
    _require_pass_type(pass_type_id)
    card = _card_by_serial(serial)
    if not _authenticated(request, card):
        return _unauthorized()
    if _not_modified(request, card):
        response = HttpResponse(status=304)
        response["Last-Modified"] = http_date(_last_modified_seconds(card))
        response["ETag"] = f'"{update_tag(card.updated_at)}"'
        return response
    return _pass_response(card)


@csrf_exempt
@require_POST
def apple_log(request: HttpRequest) -> HttpResponse:
    """Wallet reports problems with our passes or web service here.

    Only while Apple Wallet is on, limited per client address, the body capped; each message is
    logged on one line, control characters escaped and its length capped, so it cannot forge
    log lines or fill the disk.
    """
    _require_apple()
    if _log_rate_limited(request):
        return _error(429, "rate_limited", "Too many log requests; try again later.")
    body, refusal = _json_body(request, MAX_LOG_BODY)
    if refusal is not None:
        return refusal
    entries = body.get("logs") if isinstance(body, dict) else None
    if not isinstance(entries, list):
        return _error(400, "invalid_input", "logs must be a list of messages.", {"logs": ["Expected a list."]})
    for entry in entries[:MAX_LOG_ENTRIES]:
        logger.warning("Apple Wallet log: %s", one_log_line(entry if isinstance(entry, str) else json.dumps(entry)))
    return HttpResponse(status=200)


def one_log_line(text: str, limit: int = MAX_LOG_MESSAGE) -> str:
    """``text`` with every non-printable character escaped (``\\n``, ``\\x1b``, ``\\u2028``), at most ``limit`` characters."""
    escaped = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text[:limit])
    if len(text) > limit or len(escaped) > limit:
        return escaped[:limit] + "[…]"
    return escaped


def _log_rate_limited(request: HttpRequest) -> bool:
    """Count this log POST against the client address; fail open (logged) when the cache is down."""
    try:
        return is_ratelimited(
            request,
            group="wallet.apple_log",
            key="ip",
            rate=settings.LOYALTY_APPLE_LOG_RATE_LIMIT,
            method="POST",
            increment=True,
        )
    except Exception:  # noqa: BLE001 - a cache outage must not break the web service
        logger.warning("Apple log rate limiter unavailable; letting the request through", exc_info=True)
        return False


# --- downloads for the customer and for Google ---------------------------------------------


@require_GET
def apple_card_pass(request: HttpRequest, qr_code_data: str) -> HttpResponse:
    """The customer's "Add to Apple Wallet" download (the card page links here)."""
    _require_apple()
    card = get_object_or_404(
        LoyaltyCard.objects.alive().select_related("program__merchant", "merchant", "customer"),
        qr_code_data=qr_code_data,
    )
    response = _pass_response(card)
    response["Content-Disposition"] = f'attachment; filename="{card.merchant.slug}-loyalty-card.pkpass"'
    return response


@require_GET
def google_program_logo(request: HttpRequest, program_id: int) -> HttpResponse:
    """The program's square logo for its Google Wallet class (Google fetches it by URL)."""
    if not is_google_wallet_enabled():
        raise Http404("Google Wallet is not configured.")
    program = get_object_or_404(LoyaltyProgram.objects.select_related("merchant"), pk=program_id)
    response = HttpResponse(branding.google_program_logo(program), content_type="image/png")
    response["Cache-Control"] = "public, max-age=86400"
    return response
