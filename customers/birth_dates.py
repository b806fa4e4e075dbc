"""The join page's birth date: read exactly as typed, never reinterpreted.

A browser's own date widget orders day and month after the browser's interface language, not the
page's (04/07/1990 typed on a French page in an American-English Chromium was kept as 7 April), so
the page asks for plain text in one documented order and the server reads that order only:

- day first, ``dd/mm/yyyy`` (also ``.`` or ``-`` between the parts, or the eight digits alone,
  ``ddmmyyyy``), in English as in French: the product is European;
- year first, ``yyyy-mm-dd`` (ISO, what API clients and tests post; also ``/`` or ``.``).

An impossible date (31/02/1990), a two-digit year, a future date or an age over MAX_AGE_YEARS is
refused with its own message. static/customers/birth-date.js applies the same reading in the
browser and shows the date back in words while the person types; keep the two in step.
"""

import calendar
import datetime
import re

from django import forms
from django.utils.dates import MONTHS
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

MAX_AGE_YEARS = 120
SEPARATOR = r"\s*[/.\-]\s*"
DAY_FIRST = re.compile(
    rf"(?P<day>[0-9]{{1,2}}){SEPARATOR}(?P<month>[0-9]{{1,2}}){SEPARATOR}(?P<year>[0-9]{{4}})", re.ASCII
)
DAY_FIRST_DIGITS = re.compile(r"(?P<day>[0-9]{2})(?P<month>[0-9]{2})(?P<year>[0-9]{4})", re.ASCII)
YEAR_FIRST = re.compile(
    rf"(?P<year>[0-9]{{4}}){SEPARATOR}(?P<month>[0-9]{{1,2}}){SEPARATOR}(?P<day>[0-9]{{1,2}})", re.ASCII
)
SHORT_YEAR = re.compile(rf"[0-9]{{1,2}}{SEPARATOR}[0-9]{{1,2}}{SEPARATOR}[0-9]{{2}}", re.ASCII)
DISPLAY_FORMAT = "%d/%m/%Y"  # how a date the form already holds is shown in the field


def oldest_birth_date(today: datetime.date) -> datetime.date:
    """The earliest birth date of someone aged MAX_AGE_YEARS today."""
    year = today.year - MAX_AGE_YEARS - 1
    try:
        day = today.replace(year=year)
    except ValueError:  # 29 February
        day = datetime.date(year, 2, 28)
    return day + datetime.timedelta(days=1)


def format_hint() -> str:
    """The order the field expects, in the page's language (JJ/MM/AAAA in French)."""
    return gettext("DD/MM/YYYY")


def date_in_words(value: datetime.date) -> str:
    """``4 July 1990`` / ``4 juillet 1990``: the date as a person reads it, in the active language."""
    # French writes the first of the month "1er".
    words = gettext("1 %(month)s %(year)s") if value.day == 1 else gettext("%(day)s %(month)s %(year)s")
    return words % {"day": value.day, "month": MONTHS[value.month], "year": value.year}


def month_names() -> list[str]:
    """January…December in the active language (for the page's script, so both sides say the same)."""
    return [str(MONTHS[number]) for number in range(1, 13)]


MESSAGES = {
    "invalid": _("Write your birth date as %(format)s, like 17/05/1990."),
    "short_year": _("Write the year with four digits, like 17/05/1990."),
    "no_such_month": _("%(date)s is not a date: there is no month %(month)s. Write the day first, then the month."),
    "no_such_day": _("%(date)s is not a date: %(month)s %(year)s has %(days)s days."),
    "future": _("Your birth date cannot be in the future."),
    "too_old": _("Please check the year: that would make you more than %(max)d years old."),
}


def parse_birth_date(raw: str) -> datetime.date:
    """The date written in ``raw``; raises ValidationError (codes ``invalid``, ``short_year``,
    ``no_such_month``, ``no_such_day``, ``too_old`` for year 0) when it is not one."""
    text = raw.strip()
    match = DAY_FIRST.fullmatch(text) or DAY_FIRST_DIGITS.fullmatch(text) or YEAR_FIRST.fullmatch(text)
    if match is None:
        if SHORT_YEAR.fullmatch(text):
            raise forms.ValidationError(MESSAGES["short_year"], code="short_year")
        raise forms.ValidationError(MESSAGES["invalid"], code="invalid", params={"format": format_hint()})
    year, month, day = (int(match[name]) for name in ("year", "month", "day"))
    if not 1 <= month <= 12:
        raise forms.ValidationError(
            MESSAGES["no_such_month"], code="no_such_month", params={"date": text, "month": str(month)}
        )
    if year < datetime.MINYEAR:
        raise forms.ValidationError(MESSAGES["too_old"], code="too_old", params={"max": MAX_AGE_YEARS})
    days = calendar.monthrange(year, month)[1]
    if not 1 <= day <= days:
        raise forms.ValidationError(
            MESSAGES["no_such_day"],
            code="no_such_day",
            params={"date": text, "month": MONTHS[month], "year": str(year), "days": str(days)},
        )
    return datetime.date(year, month, day)


class BirthDateInput(forms.TextInput):
    """A text field for ``dd/mm/yyyy``, with a line below where birth-date.js says the date in words.

    The messages and month names the script shows come from the server, in the page's language;
    the script fills in their ``%(name)s`` / ``%(name)d`` placeholders. The form sets ``data-min``/``data-max``.
    """

    template_name = "customers/widgets/birth_date.html"

    def __init__(self, attrs=None):
        defaults = {"inputmode": "numeric", "autocomplete": "bday", "spellcheck": "false", "data-birth-date": ""}
        super().__init__(attrs={**defaults, **(attrs or {})})

    def format_value(self, value):
        if isinstance(value, datetime.date):
            return value.strftime(DISPLAY_FORMAT)
        return super().format_value(value)

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        widget_attrs = context["widget"]["attrs"]
        echo_id = f"{widget_attrs['id']}_echo" if widget_attrs.get("id") else ""
        if echo_id:
            widget_attrs["aria-describedby"] = f"{widget_attrs.get('aria-describedby', '')} {echo_id}".strip()
        widget_attrs["placeholder"] = format_hint()
        widget_attrs["data-months"] = "|".join(month_names())
        widget_attrs["data-words"] = gettext("%(day)s %(month)s %(year)s")
        widget_attrs["data-words-first"] = gettext("1 %(month)s %(year)s")
        for code, message in MESSAGES.items():
            widget_attrs[f"data-msg-{code.replace('_', '-')}"] = str(message)
        widget_attrs["data-format"] = format_hint()
        widget_attrs["data-max-age"] = str(MAX_AGE_YEARS)
        context["widget"]["echo_id"] = echo_id
        return context


class BirthDateField(forms.DateField):
    """A birth date typed as text and read as the module docstring says (the range is the form's rule)."""

    widget = BirthDateInput

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, datetime.datetime):
            return value.date()
        if isinstance(value, datetime.date):
            return value
        return parse_birth_date(str(value))
