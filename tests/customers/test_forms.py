"""Each bad input gets its message next to its field and creates nothing."""

import datetime

import pytest
from django.utils import timezone
from django.utils.html import escape

from customers.forms import EnrollmentForm, normalize_phone
from customers.models import Customer
from loyalty.models import LoyaltyCard, LoyaltyTransaction
from tests.customers.conftest import form_data


def nothing_created():
    return (Customer.objects.count(), LoyaltyCard.objects.count(), LoyaltyTransaction.objects.count()) == (0, 0, 0)


def tomorrow() -> str:
    return (timezone.localdate() + datetime.timedelta(days=1)).isoformat()


def years_ago(years: int, extra_days: int = 0) -> datetime.date:
    today = timezone.localdate()
    try:
        day = today.replace(year=today.year - years)
    except ValueError:  # 29 February
        day = today.replace(year=today.year - years, day=28)
    return day - datetime.timedelta(days=extra_days)


BAD_INPUTS = [
    ("first_name", "", "Please enter your first name."),
    ("first_name", "    ", "Please enter your first name."),
    ("first_name", "A" * 61, "Ensure this value has at most 60 characters (it has 61)."),
    ("first_name", "Ada\x07", "Use letters, spaces, hyphens or apostrophes only."),
    ("first_name", "Ada\x00", "Null characters are not allowed."),
    ("last_name", "", "Please enter your last name."),
    ("last_name", "L" * 61, "Ensure this value has at most 60 characters (it has 61)."),
    ("email", "", "Please enter your email address."),
    ("email", "not-an-email", "Enter a valid email address, like name@example.com."),
    ("email", "ada@", "Enter a valid email address, like name@example.com."),
    ("phone", "", "Please enter your phone number."),
    ("phone", "call me", "Enter a phone number of 6 to 15 digits, optionally starting with +."),
    ("phone", "12345", "Enter a phone number of 6 to 15 digits, optionally starting with +."),
    ("phone", "+1234567890123456", "Enter a phone number of 6 to 15 digits, optionally starting with +."),
    ("phone", "06 12 34 56 7a", "Enter a phone number of 6 to 15 digits, optionally starting with +."),
    ("phone", "0612\x00345678", "Null characters are not allowed."),
    ("phone", "33+612345678", "Enter a phone number of 6 to 15 digits, optionally starting with +."),
    ("birth_date", "", "Please enter your birth date."),
    ("birth_date", "31/02/1890", "31/02/1890 is not a date: February 1890 has 28 days."),
    ("birth_date", "31/02/1990", "31/02/1990 is not a date: February 1990 has 28 days."),
    (
        "birth_date",
        "1990-13-01",
        "1990-13-01 is not a date: there is no month 13. Write the day first, then the month.",
    ),
    ("birth_date", "yesterday", "Write your birth date as DD/MM/YYYY, like 17/05/1990."),
    ("birth_date", "tomorrow", "Your birth date cannot be in the future."),
    ("birth_date", "1890-01-01", "Please check the year: that would make you more than 120 years old."),
    ("birth_date", "121 years ago", "Please check the year: that would make you more than 120 years old."),
    ("accept_terms", None, "You need to accept the terms to join."),
]


@pytest.mark.parametrize(("field", "value", "message"), BAD_INPUTS, ids=[f"{f}={v!r}" for f, v, _ in BAD_INPUTS])
def test_bad_input_shows_its_message_and_creates_nothing(client, join_url, field, value, message, mailoutbox):
    if value == "tomorrow":
        value = tomorrow()
    elif value == "121 years ago":
        value = years_ago(121).isoformat()
    response = client.post(join_url, form_data(**{field: value}))
    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors[field] == [message]
    assert list(form.errors) == [field]
    html = response.content.decode()
    # The message is rendered beside its field (in the field's own block).
    block_start = html.index(f'for="id_{field}"')
    assert escape(message) in html[block_start : block_start + 1500]
    assert 'aria-invalid="true"' in html
    assert nothing_created()
    assert mailoutbox == []


def test_the_oldest_and_youngest_allowed_birth_dates_pass():
    today = timezone.localdate()
    for birth_date in (years_ago(120), years_ago(0), today):
        form = EnrollmentForm(form_data(birth_date=birth_date.isoformat()), today=today)
        assert form.is_valid(), form.errors
    form = EnrollmentForm(form_data(birth_date=years_ago(121).isoformat()), today=today)
    assert not form.is_valid()
    # One day short of 121 is still 120.
    form = EnrollmentForm(form_data(birth_date=(years_ago(121) + datetime.timedelta(days=1)).isoformat()), today=today)
    assert form.is_valid(), form.errors


def test_valid_input_is_normalised():
    form = EnrollmentForm(
        form_data(
            first_name="  Ada   Mary ",
            last_name=" King-Lovelace ",
            email="  ADA@Example.COM ",
            phone="+33 (0)6 12-34.56/78",
            birth_date="17/05/1990",
        )
    )
    assert form.is_valid(), form.errors
    data = form.cleaned_data
    assert data["first_name"] == "Ada Mary"
    assert data["last_name"] == "King-Lovelace"
    assert data["email"] == "ada@example.com"
    assert data["phone"] == "+330612345678"
    assert data["birth_date"] == datetime.date(1990, 5, 17)
    assert data["marketing_opt_in"] is False
    assert form.is_bot is False


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [("06 12 34 56 78", "0612345678"), ("+44 20 7946 0958", "+442079460958"), ("123456", "123456")],
)
def test_phone_normalisation(raw, normalised):
    assert normalize_phone(raw) == normalised


def test_names_keep_what_people_type_including_markup():
    form = EnrollmentForm(form_data(first_name="<script>alert(1)</script>", last_name="O'Brien"))
    assert form.is_valid(), form.errors
    assert form.cleaned_data["first_name"] == "<script>alert(1)</script>"
    assert form.cleaned_data["last_name"] == "O'Brien"
