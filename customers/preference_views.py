"""The customer's preferences page and the one-click unsubscribe link of every email."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from customers import preferences
from customers.branding import branding_for
from loyalty.models import LoyaltyCard


class PreferencesForm(forms.Form):
    emails = forms.BooleanField(
        required=False,
        label=_("Emails about my card (points about to expire, birthday wishes)"),
    )
    marketing_opt_in = forms.BooleanField(required=False, label=_("Birthday wishes and offers from the shop"))
    preferred_language = forms.ChoiceField(
        label=_("Language of my emails and pages"),
        choices=settings.LANGUAGES,
        error_messages={"invalid_choice": _("Choose one of the languages offered.")},
    )


def _card(qr_code_data: str) -> LoyaltyCard:
    return get_object_or_404(
        LoyaltyCard.objects.alive().select_related("customer", "merchant", "program"), qr_code_data=qr_code_data
    )


def _private(response: HttpResponse) -> HttpResponse:
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def preferences_page(request: HttpRequest, qr_code_data: str) -> HttpResponse:
    card = _card(qr_code_data)
    customer = card.customer
    if request.method == "POST":
        form = PreferencesForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                preferences.update_preferences(
                    customer=customer,
                    email_opt_out=not data["emails"],
                    marketing_opt_in=data["marketing_opt_in"],
                    preferred_language=data["preferred_language"],
                )
            except ValidationError as exc:
                form.add_error("preferred_language", exc)
            else:
                language = customer.preferred_language
                with translation.override(language):
                    messages.success(request, gettext("Your preferences are saved."), extra_tags="preferences")
                response = redirect("customers:preferences", qr_code_data=card.qr_code_data)
                # The pages follow the language chosen for the emails.
                response.set_cookie(
                    settings.LANGUAGE_COOKIE_NAME,
                    language,
                    max_age=settings.LANGUAGE_COOKIE_AGE,
                    path=settings.LANGUAGE_COOKIE_PATH,
                    secure=settings.LANGUAGE_COOKIE_SECURE,
                    httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
                    samesite=settings.LANGUAGE_COOKIE_SAMESITE,
                )
                return response
        status = 400
    else:
        form = PreferencesForm(
            initial={
                "emails": not customer.email_opt_out,
                "marketing_opt_in": customer.marketing_opt_in,
                "preferred_language": customer.preferred_language,
            }
        )
        status = 200
    context = {
        "card": card,
        "customer": customer,
        "merchant": card.merchant,
        "brand": branding_for(card.merchant, card.program),
        "form": form,
        "card_url": reverse("customers:card", args=[card.qr_code_data]),
    }
    return _private(render(request, "customers/preferences.html", context, status=status))


@csrf_exempt  # RFC 8058 one-click: the mail client POSTs without a session; the signed link is the proof
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request: HttpRequest, qr_code_data: str, token: str) -> HttpResponse:
    """GET asks to confirm (mail scanners follow links); POST switches every email off."""
    card = preferences.card_for_unsubscribe(qr_code_data=qr_code_data, token=token)
    if card is None:
        return _private(render(request, "customers/unsubscribe_invalid.html", {}, status=400))
    context = {
        "card": card,
        "merchant": card.merchant,
        "brand": branding_for(card.merchant, card.program),
        "preferences_url": reverse("customers:preferences", args=[card.qr_code_data]),
        "done": False,
    }
    if request.method == "POST":
        preferences.unsubscribe(customer=card.customer)
        context["done"] = True
    return _private(render(request, "customers/unsubscribe.html", context))
