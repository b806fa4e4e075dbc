"""The wallet endpoints: Apple's PassKit web service, the card's .pkpass download, Google's program logo.

The web service follows Apple's protocol exactly (paths and status codes in ../shared/SPEC.md):
Wallet on the customer's phone is the client, authenticated by ``Authorization: ApplePass
<authenticationToken>`` on register, unregister and the pass download.
"""

import hmac
import json
import logging
import math

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.http import http_date, parse_http_date_safe
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from loyalty.models import LoyaltyCard, LoyaltyProgram
from wallet import branding
from wallet.apple import PKPASS_CONTENT_TYPE, build_pkpass
from wallet.apple.tags import parse_update_tag, update_tag
from wallet.models import AppleDeviceRegistration
from wallet.switches import is_apple_wallet_enabled, is_google_wallet_enabled

logger = logging.getLogger(__name__)

MAX_LOG_ENTRIES = 50


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
        AppleDeviceRegistration.objects.filter(device_library_identifier=device, card=card).delete()
        return HttpResponse(status=200)
    try:
        push_token = json.loads(request.body or b"{}").get("pushToken")
    except (ValueError, AttributeError):
        push_token = None
    if not isinstance(push_token, str) or not push_token.strip():
        return JsonResponse({"error": "pushToken is required"}, status=400)
    created = _register(device, card, push_token.strip())
    return HttpResponse(status=201 if created else 200)


def _register(device: str, card: LoyaltyCard, push_token: str) -> bool:
    now = timezone.now()
    with transaction.atomic():
        registrations = AppleDeviceRegistration.objects.filter(device_library_identifier=device, card=card)
        created = False
        if not registrations.update(push_token=push_token, updated_at=now):
            try:
                with transaction.atomic():
                    AppleDeviceRegistration.objects.create(
                        device_library_identifier=device, card=card, push_token=push_token
                    )
                created = True
            except IntegrityError:  # the same device registering twice at once
                registrations.update(push_token=push_token, updated_at=now)
        # The push token belongs to the device: its other passes get the new one too.
        AppleDeviceRegistration.objects.filter(device_library_identifier=device).exclude(push_token=push_token).update(
            push_token=push_token, updated_at=now
        )
    return created


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
    """Wallet reports problems with our passes or web service here."""
    try:
        entries = json.loads(request.body or b"{}").get("logs", [])
    except (ValueError, AttributeError):
        entries = []
    if not isinstance(entries, list):
        entries = []
    for entry in entries[:MAX_LOG_ENTRIES]:
        logger.warning("Apple Wallet log: %s", str(entry)[:1000])
    return HttpResponse(status=200)


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
