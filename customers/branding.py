"""The merchant's look on the public pages and in emails, from the active program's wallet branding."""

import re
from dataclasses import dataclass

from loyalty.models import LoyaltyProgram
from merchants.models import Merchant

HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


@dataclass(frozen=True)
class Branding:
    """The merchant's look on the public pages, from the active program's wallet branding."""

    name: str
    logo_text: str
    logo_url: str
    background: str
    foreground: str
    label: str


def branding_for(merchant: Merchant, program: LoyaltyProgram | None) -> Branding:
    defaults = {"background": "#1f2937", "foreground": "#ffffff", "label": "#d1d5db"}
    colours = {}
    for name, default in defaults.items():
        value = getattr(program, f"{name}_color", "") if program else ""
        # Only a plain #rrggbb reaches the style attribute, whatever was stored.
        colours[name] = value if HEX_COLOUR.match(value or "") else default
    logo_url = ""
    if program is not None and program.logo:
        try:
            logo_url = program.logo.url
        except ValueError:
            logo_url = ""
    return Branding(
        name=merchant.name,
        logo_text=(program.logo_text if program else "") or merchant.name,
        logo_url=logo_url,
        **colours,
    )
