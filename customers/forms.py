"""The public enrollment form: what a customer types on /join/<merchant_slug>/."""

import datetime
import re
import unicodedata

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.birth_dates import MAX_AGE_YEARS, MESSAGES, BirthDateField, oldest_birth_date

NAME_MAX_LENGTH = 60  # Customer.first_name / last_name
PHONE_MIN_DIGITS = 6
PHONE_MAX_DIGITS = 15  # E.164
# Spaces, dots, dashes, slashes and brackets people put in phone numbers.
PHONE_SEPARATORS = re.compile(r"[\s.\-/()]+")
HONEYPOT_FIELD = "leave_blank"


def normalize_phone(raw: str) -> str:
    """``+33 6 12-34.56 78`` -> ``+33612345678``; raises ValueError when it is not a phone number."""
    value = PHONE_SEPARATORS.sub("", raw.strip())
    plus = value.startswith("+")
    digits = value[1:] if plus else value
    if not digits.isascii() or not digits.isdigit():
        raise ValueError("not digits")
    if not PHONE_MIN_DIGITS <= len(digits) <= PHONE_MAX_DIGITS:
        raise ValueError("length")
    return ("+" if plus else "") + digits


class NameField(forms.CharField):
    """A trimmed, length-limited personal name without control characters.

    Any printable text is accepted (people's names are varied); templates escape it.
    """

    def __init__(self, **kwargs):
        super().__init__(max_length=NAME_MAX_LENGTH, strip=True, **kwargs)

    def clean(self, value):
        value = super().clean(value)
        # Collapse inner runs of whitespace ("Ada    Mary" -> "Ada Mary").
        value = " ".join(value.split())
        if any(unicodedata.category(char).startswith("C") for char in value):
            raise forms.ValidationError(_("Use letters, spaces, hyphens or apostrophes only."), code="invalid")
        return value


class EnrollmentForm(forms.Form):
    first_name = NameField(
        label=_("First name"),
        error_messages={"required": _("Please enter your first name.")},
        widget=forms.TextInput(attrs={"autocomplete": "given-name", "autocapitalize": "words"}),
    )
    last_name = NameField(
        label=_("Last name"),
        error_messages={"required": _("Please enter your last name.")},
        widget=forms.TextInput(attrs={"autocomplete": "family-name", "autocapitalize": "words"}),
    )
    email = forms.EmailField(
        label=_("Email"),
        max_length=254,
        error_messages={
            "required": _("Please enter your email address."),
            "invalid": _("Enter a valid email address, like name@example.com."),
        },
        widget=forms.EmailInput(attrs={"autocomplete": "email", "inputmode": "email", "autocapitalize": "none"}),
    )
    phone = forms.CharField(
        label=_("Phone"),
        max_length=30,
        error_messages={"required": _("Please enter your phone number.")},
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel", "inputmode": "tel"}),
    )
    # Typed as text, day first: a browser's date widget would order day and month after the
    # browser's language, not the page's (see customers/birth_dates.py).
    birth_date = BirthDateField(
        label=_("Birth date"),
        error_messages={"required": _("Please enter your birth date.")},
        help_text=_("Day, month, year: DD/MM/YYYY. We use it to celebrate your birthday."),
    )
    accept_terms = forms.BooleanField(
        label=_("I accept the terms of the loyalty program."),
        error_messages={"required": _("You need to accept the terms to join.")},
    )
    marketing_opt_in = forms.BooleanField(
        label=_("Send me news and offers by email."),
        required=False,
    )
    # Honeypot: hidden from people by CSS, filled in by naive bots. See EnrollmentForm.is_bot.
    leave_blank = forms.CharField(
        required=False,
        label=_("Leave this field empty"),
        widget=forms.TextInput(attrs={"autocomplete": "off", "tabindex": "-1"}),
    )

    def __init__(self, *args, today: datetime.date | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.today = today or timezone.localdate()
        # For the page's script; the rule itself is clean_birth_date.
        self.fields["birth_date"].widget.attrs.update(
            {"data-max": self.today.isoformat(), "data-min": oldest_birth_date(self.today).isoformat()}
        )

    @property
    def is_bot(self) -> bool:
        """True when the honeypot was filled in: the view then creates nothing."""
        return bool(self.is_bound and str(self.data.get(HONEYPOT_FIELD, "")).strip())

    def clean_email(self) -> str:
        return self.cleaned_data["email"].strip().lower()

    def clean_phone(self) -> str:
        try:
            return normalize_phone(self.cleaned_data["phone"])
        except ValueError:
            raise forms.ValidationError(
                _("Enter a phone number of %(min)d to %(max)d digits, optionally starting with +."),
                code="invalid",
                params={"min": PHONE_MIN_DIGITS, "max": PHONE_MAX_DIGITS},
            ) from None

    def clean_birth_date(self) -> datetime.date:
        birth_date = self.cleaned_data["birth_date"]
        if birth_date > self.today:
            raise forms.ValidationError(MESSAGES["future"], code="future")
        if birth_date < oldest_birth_date(self.today):
            raise forms.ValidationError(MESSAGES["too_old"], code="too_old", params={"max": MAX_AGE_YEARS})
        return birth_date
