"""The store poster: an A4 page with the store's join QR code, the program's promise and the brand.

An owner prints it from the admin (the store's page, or the list action for several stores); a
customer scans the QR code, which opens ``/join/<merchant>/?store=<code>`` so the card records the
store. Print-ready HTML (``@page`` A4), in English or French; the browser's "Save as PDF" makes the
PDF. The QR code is drawn on the server as inline SVG (segno), like the card page's.
"""

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.urls import reverse
from django.utils import translation
from django.utils.safestring import SafeString
from django.utils.translation import gettext, ngettext

from customers.branding import Branding, branding_for
from customers.views import qr_code_svg
from loyalty.models import LoyaltyProgram
from merchants.models import Store

LANGUAGES = ("en", "fr")


def join_url(store: Store) -> str:
    """The absolute address the poster's QR code carries."""
    path = reverse("customers:join", args=[store.merchant.slug])
    return f"{settings.LOYALTY_PUBLIC_BASE_URL}{path}?store={store.code}"


def _number(value: Decimal) -> str:
    """``1.00`` -> ``1``, ``1.50`` -> ``1.5`` (``1,5`` in French)."""
    text = format(value.normalize(), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    language = (translation.get_language() or "").split("-")[0]
    return text.replace(".", ",") if language == "fr" else text


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def promise(program: LoyaltyProgram | None) -> list[str]:
    """What joining gets a customer, in words of the active language, from the program's rules."""
    if program is None:
        return []
    lines = []
    if program.uses_stamps:
        lines.append(
            ngettext(
                "%(reward)s after %(count)d stamp",
                "%(reward)s after %(count)d stamps",
                program.stamps_target,
            )
            % {"reward": _sentence(program.localized_stamp_reward), "count": program.stamps_target}
        )
    if program.uses_points and program.points_per_euro > 0:
        per_euro = program.points_per_euro
        if per_euro == 1:
            text = gettext("1 point per euro")
        else:
            text = gettext("%(points)s points per euro") % {"points": _number(per_euro)}
        if program.welcome_bonus:
            text += ", " + ngettext("%(count)d welcome point", "%(count)d welcome points", program.welcome_bonus) % {
                "count": program.welcome_bonus
            }
        lines.append(text)
    elif program.uses_points and program.welcome_bonus:
        lines.append(
            ngettext("%(count)d welcome point", "%(count)d welcome points", program.welcome_bonus)
            % {"count": program.welcome_bonus}
        )
    if program.has_birthday_bonus:
        lines.append(gettext("A gift on your birthday"))
    return lines


@dataclass(frozen=True)
class Poster:
    store: Store
    program: LoyaltyProgram | None
    brand: Branding
    url: str
    qr_svg: SafeString
    promise: list[str]

    @property
    def open(self) -> bool:
        merchant = self.store.merchant
        return bool(self.program and merchant.is_active and merchant.enrollment_open and self.store.is_active)


def poster_for(store: Store) -> Poster:
    """The poster of one store, in the active language."""
    program = LoyaltyProgram.objects.filter(merchant=store.merchant, is_active=True).first()
    url = join_url(store)
    title = gettext("QR code to join %(merchant)s at %(store)s") % {
        "merchant": store.merchant.name,
        "store": store.name,
    }
    return Poster(
        store=store,
        program=program,
        brand=branding_for(store.merchant, program),
        url=url,
        qr_svg=qr_code_svg(url, title),
        promise=promise(program),
    )


def poster_language(requested: str | None) -> str:
    if requested in LANGUAGES:
        return requested
    current = (translation.get_language() or settings.LANGUAGE_CODE).split("-")[0]
    return current if current in LANGUAGES else "en"
