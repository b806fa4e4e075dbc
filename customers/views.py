"""Public pages: the enrollment form and the customer's card page."""

import functools
import logging
import re

import segno
from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from django.views.i18n import set_language
from django_ratelimit.core import is_ratelimited

from core.errors import LoyaltyError
from customers import services
from customers.birth_dates import date_in_words
from customers.branding import branding_for
from customers.forms import EnrollmentForm
from loyalty.models import LoyaltyCard, LoyaltyTransaction
from loyalty.selectors import active_rewards, is_birthday_week, points_expiry, stamp_ladder
from merchants.models import Merchant, Store
from wallet.links import WalletLinks, wallet_links

logger = logging.getLogger(__name__)

STORE_CODE = re.compile(r"\A[a-z0-9][a-z0-9_-]{0,29}\Z")  # Store.code
RECENT_ACTIVITY_ROWS = 10
MAX_STAMP_DOTS = 20  # above this a stamp card shows a progress bar instead of one dot per stamp
Type = LoyaltyTransaction.Type

# What the customer reads for each ledger row (the model's labels are the staff's words, in English).
ACTIVITY_LABELS = {
    Type.WELCOME_BONUS: _("Welcome bonus"),
    Type.STAMP: _("Stamp collected"),
    Type.STAMP_REDEEM: _("Stamp card reward"),
    Type.STAMP_VOID: _("Stamp cancelled"),
    Type.STAMPS_ADJUST: _("Stamps corrected"),
    Type.POINTS_EARN: _("Points earned"),
    Type.POINTS_REDEEM: _("Reward redeemed"),
    Type.POINTS_VOID: _("Points cancelled (return)"),
    Type.POINTS_ADJUST: _("Points corrected"),
    Type.POINTS_EXPIRE: _("Points expired"),
    Type.BIRTHDAY_BONUS: _("Birthday bonus"),
    Type.POINTS_IMPORT: _("Balance carried over from your previous card"),
    Type.STAMPS_IMPORT: _("Balance carried over from your previous card"),
}


# --- enrollment -----------------------------------------------------------------------------


def _store_from_query(request: HttpRequest, merchant: Merchant) -> Store | None:
    """The store of ``?store=<code>``; an unknown or closed store is a 404."""
    code = request.GET.get("store", "").strip()
    if not code:
        return None
    if not STORE_CODE.match(code):
        raise Http404("Unknown store")
    return get_object_or_404(Store, merchant=merchant, code=code, is_active=True)


def _enroll_rate_limited(request: HttpRequest) -> bool:
    """Count this POST against the client address; fail open (logged) when the cache is down."""
    try:
        return is_ratelimited(
            request,
            group="customers.enroll",
            key="ip",
            rate=settings.LOYALTY_ENROLL_RATE_LIMIT,
            method="POST",
            increment=True,
        )
    except Exception:  # noqa: BLE001 - a cache outage must not stop people joining
        logger.warning("Enrollment rate limiter unavailable; letting the request through", exc_info=True)
        return False


def _request_language() -> str:
    try:
        return translation.get_supported_language_variant(translation.get_language() or settings.LANGUAGE_CODE)
    except LookupError:
        return settings.LANGUAGE_CODE


@require_http_methods(["GET", "HEAD", "POST"])
def join(request: HttpRequest, merchant_slug: str) -> HttpResponse:
    merchant = get_object_or_404(Merchant, slug=merchant_slug)
    store = _store_from_query(request, merchant)
    program = services.active_program(merchant)
    context = {"merchant": merchant, "store": store, "brand": branding_for(merchant, program)}
    if not (merchant.is_active and merchant.enrollment_open and program is not None):
        return render(request, "customers/join_closed.html", context)

    if request.method == "POST":
        if _enroll_rate_limited(request):
            return render(request, "customers/rate_limited.html", context, status=429)
        form = EnrollmentForm(request.POST)
        if form.is_bot:
            # Whatever else it typed, the bot sees the "we sent you a link" outcome; nothing is
            # created or sent, and it learns nothing from validation messages.
            logger.info("Enrollment honeypot filled for %s; ignored", merchant.slug)
            return redirect("customers:join-sent", merchant_slug=merchant.slug)
        if form.is_valid():
            data = form.cleaned_data
            try:
                enrollment = services.enroll_customer(
                    merchant=merchant,
                    store=store,
                    first_name=data["first_name"],
                    last_name=data["last_name"],
                    email=data["email"],
                    phone=data["phone"],
                    birth_date=data["birth_date"],
                    marketing_opt_in=data["marketing_opt_in"],
                    preferred_language=_request_language(),
                )
            except LoyaltyError as exc:
                if exc.code != "enrollment_closed":
                    raise
                return render(request, "customers/join_closed.html", context)
            card = enrollment.card
            if enrollment.created and enrollment.new_customer:
                services.send_card_email(card=card, kind=services.CardEmail.WELCOME)
                # Said back in words on the card page, so a slip in the date is seen at once.
                messages.success(
                    request,
                    gettext("Welcome! We saved your birth date as %(date)s. Not right? Ask us in store to correct it.")
                    % {"date": date_in_words(data["birth_date"])},
                    extra_tags="joined",
                )
                return redirect("customers:card", qr_code_data=card.qr_code_data)
            # The email was already known here (with a card, or a customer the shop registered
            # without one): never show that customer's card to whoever typed the address,
            # send its link to that inbox instead.
            kind = services.CardEmail.WELCOME if enrollment.created else services.CardEmail.EXISTING
            services.send_card_email(card=card, kind=kind)
            return redirect("customers:join-sent", merchant_slug=merchant.slug)
    else:
        form = EnrollmentForm()
    return render(request, "customers/join.html", {**context, "form": form, "program": program})


@require_safe
def join_sent(request: HttpRequest, merchant_slug: str) -> HttpResponse:
    merchant = get_object_or_404(Merchant, slug=merchant_slug)
    brand = branding_for(merchant, services.active_program(merchant))
    return render(request, "customers/join_sent.html", {"merchant": merchant, "brand": brand})


@require_safe
def terms(request: HttpRequest, merchant_slug: str) -> HttpResponse:
    """What a member accepts when joining: the program's rules, the use of their data, the merchant's own terms."""
    merchant = get_object_or_404(Merchant, slug=merchant_slug)
    program = services.active_program(merchant)
    context = {"merchant": merchant, "program": program, "brand": branding_for(merchant, program)}
    return render(request, "customers/terms.html", context)


# --- the card page ---------------------------------------------------------------------------


def qr_code_svg(data: str, title: str) -> SafeString:
    """The card's QR code as inline SVG, drawn here (no external service)."""
    # segno escapes the title; the rest of the markup is its own.
    return mark_safe(_qr_code_markup(data, title))


@functools.lru_cache(maxsize=2048)
def _qr_code_markup(data: str, title: str) -> str:
    # A card's QR never changes: drawn once per card and language in a process (40% of the page otherwise).
    qr = segno.make(data, error="m")
    return qr.svg_inline(scale=1, border=4, omitsize=True, svgclass="qr-code", title=title, dark="#000", light="#fff")


def _signed_points(delta: int) -> str:
    amount = ngettext("%(count)d point", "%(count)d points", abs(delta)) % {"count": abs(delta)}
    return ("+" if delta > 0 else "\u2212") + amount


def _signed_stamps(delta: int) -> str:
    amount = ngettext("%(count)d stamp", "%(count)d stamps", abs(delta)) % {"count": abs(delta)}
    return ("+" if delta > 0 else "\u2212") + amount


def _activity(card: LoyaltyCard) -> list[dict]:
    rows = []
    entries = card.transactions.select_related("store", "reward").order_by("-created_at", "-id")[:RECENT_ACTIVITY_ROWS]
    for entry in entries:
        if entry.type == Type.WELCOME_BONUS and not (entry.points_delta or entry.stamps_delta):
            continue  # a stamps-only card (or a second card) got no bonus: nothing to show
        changes = []
        if entry.points_delta:
            changes.append(_signed_points(entry.points_delta))
        if entry.stamps_delta:
            changes.append(_signed_stamps(entry.stamps_delta))
        rows.append(
            {
                "label": ACTIVITY_LABELS.get(entry.type, entry.get_type_display()),
                "reward": entry.reward.localized_name if entry.reward else "",
                "store": entry.store.name if entry.store else "",
                "created_at": entry.created_at,
                "date_words": date_in_words(timezone.localdate(entry.created_at)),
                "changes": changes,
                "negative": entry.points_delta < 0 or entry.stamps_delta < 0,
            }
        )
    return rows


def _wallet_links(card: LoyaltyCard) -> WalletLinks:
    if not (card.is_active and card.program.is_active and card.merchant.is_active):
        return WalletLinks(google_save_url=None, apple_pass_url=None)
    try:
        return wallet_links(card)
    except Exception:  # noqa: BLE001 - a wallet outage hides its button, never the card
        logger.exception("Wallet links failed for card %s", card.pk)
        return WalletLinks(google_save_url=None, apple_pass_url=None)


def _expiry(card: LoyaltyCard) -> dict | None:
    """The card's next points expiry as the page says it (None: nothing will expire)."""
    expiry = points_expiry(card)
    if expiry is None:
        return None
    return {
        "points": expiry.points,
        "date_words": date_in_words(expiry.expires_on),
        "date": expiry.expires_on,
        "near": expiry.is_near(timezone.localdate()),
    }


@never_cache
@require_safe
def card_page(request: HttpRequest, qr_code_data: str) -> HttpResponse:
    card = get_object_or_404(
        LoyaltyCard.objects.alive().select_related("customer", "merchant", "program", "enrolled_at_store", "tier"),
        qr_code_data=qr_code_data,
    )
    program = card.program
    target = program.stamps_target
    filled = min(card.stamp_count, target)
    # One query for the catalogue: the points rewards listed below and the stamp ladder.
    rewards = sorted(
        (r for r in active_rewards(program) if r.points_cost is not None and program.uses_points),
        key=lambda reward: (reward.points_cost, reward.name),
    )
    ladder = stamp_ladder(card)
    stamps_ready = [rung for rung in ladder if rung.available]
    next_stamp_reward = next((rung for rung in ladder if not rung.available), None)
    context = {
        "card": card,
        "customer": card.customer,
        "merchant": card.merchant,
        "program": program,
        "brand": branding_for(card.merchant, program),
        "qr_svg": qr_code_svg(card.qr_code_data, gettext("QR code of card %(number)s") % {"number": card.card_number}),
        "stamp_dots": [index < filled for index in range(target)] if target <= MAX_STAMP_DOTS else None,
        "stamp_percent": filled * 100 // target,
        "rewards": [{"reward": reward, "affordable": reward.points_cost <= card.points_balance} for reward in rewards],
        # The reward ladder: the best stamp reward ready, the next one and how many stamps it needs.
        "stamp_ladder": ladder if len(ladder) > 1 else [],
        "stamp_reward_ready": stamps_ready[-1] if stamps_ready else None,
        "next_stamp_reward": next_stamp_reward,
        "stamps_to_next": next_stamp_reward.stamps_cost - card.stamp_count if next_stamp_reward else 0,
        "tier": card.tier,
        "activity": _activity(card),
        "wallet": _wallet_links(card),
        "birthday_week": is_birthday_week(card.customer.birth_date, timezone.localdate()),
        "birth_date_words": date_in_words(card.customer.birth_date) if card.customer.birth_date else "",
        "card_usable": card.is_active and program.is_active and card.merchant.is_active,
        "language_switch_url": reverse("customers:card-language", args=[card.qr_code_data]),
        "preferences_url": reverse("customers:preferences", args=[card.qr_code_data]),
        "my_data_url": reverse("customers:my-data", args=[card.qr_code_data]),
        "expiry": _expiry(card),
    }
    response = render(request, "customers/card.html", context)
    # The address is the card's secret: keep it out of search engines and shared caches.
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


@require_POST
def card_language(request: HttpRequest, qr_code_data: str) -> HttpResponse:
    """The card page's language switch: sets the cookie like on every page, and the customer's
    emails follow the choice from now on."""
    card = get_object_or_404(LoyaltyCard.objects.alive(), qr_code_data=qr_code_data)
    services.remember_language(customer_id=card.customer_id, language=request.POST.get("language", ""))
    return set_language(request)
