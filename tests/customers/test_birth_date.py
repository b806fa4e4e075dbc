"""The seed's bug must not come back: the birth date typed at enrollment is kept and used."""

import datetime

import pytest
from django.utils import timezone, translation

from customers.birth_dates import date_in_words
from customers.forms import EnrollmentForm
from customers.models import Customer
from loyalty.models import LoyaltyCard
from loyalty.selectors import is_birthday_week
from tests.customers.conftest import form_data
from tests.factories import StaffMemberFactory

BIRTH_DATE = datetime.date(1990, 5, 17)


def enroll(client, join_url, capture, birth_date: str) -> Customer:
    with capture(execute=True):
        response = client.post(join_url, form_data(birth_date=birth_date))
    assert response.status_code == 302, response.context["form"].errors if response.context else response
    return Customer.objects.get()


def test_birth_date_from_the_date_picker_is_stored(client, join_url, django_capture_on_commit_callbacks):
    customer = enroll(client, join_url, django_capture_on_commit_callbacks, "1990-05-17")
    customer.refresh_from_db()
    assert customer.birth_date == BIRTH_DATE


def test_birth_date_typed_day_first_is_stored(client, join_url, django_capture_on_commit_callbacks):
    customer = enroll(client, join_url, django_capture_on_commit_callbacks, "17/05/1990")
    assert Customer.objects.get(pk=customer.pk).birth_date == BIRTH_DATE


def test_birth_date_round_trip_to_the_admin_and_the_birthday_rule(
    client, join_url, merchant, django_capture_on_commit_callbacks
):
    customer = enroll(client, join_url, django_capture_on_commit_callbacks, "17/05/1990")

    # The merchant owner logs into the admin and sees it in the list and on the customer's page.
    owner = StaffMemberFactory(merchant=merchant, role="owner", user__username="owner-1")
    assert owner.user.is_staff
    client.logout()
    assert client.login(username="owner-1", password="pass-word-1234")
    listing = client.get("/admin/customers/customer/")
    assert listing.status_code == 200
    html = listing.content.decode()
    assert customer.email in html
    assert "May 17, 1990" in html
    change = client.get(f"/admin/customers/customer/{customer.pk}/change/")
    assert change.status_code == 200
    assert 'name="birth_date" value="1990-05-17"' in change.content.decode()

    # The POS birthday badge is built on this rule, fed with the stored value.
    stored = Customer.objects.get(pk=customer.pk).birth_date
    for day in (14, 16, 17, 18, 20):  # within three days either side
        assert is_birthday_week(stored, datetime.date(2027, 5, day))
    for day in (13, 21):
        assert not is_birthday_week(stored, datetime.date(2027, 5, day))
    assert not is_birthday_week(stored, datetime.date(2027, 11, 17))


def test_names_are_escaped_in_the_admin(client, join_url, merchant, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        client.post(join_url, form_data(first_name="<script>alert(1)</script>"))
    StaffMemberFactory(merchant=merchant, role="owner", user__username="owner-2")
    client.login(username="owner-2", password="pass-word-1234")
    html = client.get("/admin/customers/customer/").content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_birthday_this_week_is_flagged(client, join_url, django_capture_on_commit_callbacks):
    today = timezone.localdate()
    birth_date = datetime.date(1985, today.month, min(today.day, 28))
    customer = enroll(client, join_url, django_capture_on_commit_callbacks, birth_date.strftime("%d/%m/%Y"))
    assert is_birthday_week(Customer.objects.get(pk=customer.pk).birth_date, birth_date.replace(year=today.year))


# --- what a customer types is what is kept (SPEC "Production parity") --------------------------

TODAY = datetime.date(2026, 6, 15)
FRENCH = {"HTTP_ACCEPT_LANGUAGE": "fr-FR,fr;q=0.9"}


@pytest.mark.parametrize("language", ["en", "fr"])
@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("04/07/1990", datetime.date(1990, 7, 4)),  # day first on the English page too: a European product
        ("4/7/1990", datetime.date(1990, 7, 4)),
        ("04.07.1990", datetime.date(1990, 7, 4)),
        ("04-07-1990", datetime.date(1990, 7, 4)),
        (" 04 / 07 / 1990 ", datetime.date(1990, 7, 4)),
        ("04071990", datetime.date(1990, 7, 4)),  # a phone's number pad has no "/"
        ("1990-07-04", datetime.date(1990, 7, 4)),  # ISO, what API clients and tests post
        ("1990/07/04", datetime.date(1990, 7, 4)),
        ("29/02/1992", datetime.date(1992, 2, 29)),
        ("31/12/1999", datetime.date(1999, 12, 31)),
        ("15/06/2026", TODAY),
        ("16/06/1905", datetime.date(1905, 6, 16)),  # 120 years and 364 days
    ],
)
def test_each_accepted_form_is_read_day_first(language, typed, kept):
    with translation.override(language):
        form = EnrollmentForm(form_data(birth_date=typed), today=TODAY)
        assert form.is_valid(), form.errors
    assert form.cleaned_data["birth_date"] == kept


REFUSALS = [
    # typed, code, English message, French message
    (
        "31/02/1990",
        "no_such_day",
        "31/02/1990 is not a date: February 1990 has 28 days.",
        "31/02/1990 n’est pas une date : février 1990 compte 28 jours.",
    ),
    (
        "29/02/1991",
        "no_such_day",
        "29/02/1991 is not a date: February 1991 has 28 days.",
        "29/02/1991 n’est pas une date : février 1991 compte 28 jours.",
    ),
    (
        "31/04/1990",
        "no_such_day",
        "31/04/1990 is not a date: April 1990 has 30 days.",
        "31/04/1990 n’est pas une date : avril 1990 compte 30 jours.",
    ),
    (
        "00/07/1990",
        "no_such_day",
        "00/07/1990 is not a date: July 1990 has 31 days.",
        "00/07/1990 n’est pas une date : juillet 1990 compte 31 jours.",
    ),
    (
        "07/13/1990",  # month first, as an American would: refused, never swapped
        "no_such_month",
        "07/13/1990 is not a date: there is no month 13. Write the day first, then the month.",
        "07/13/1990 n’est pas une date : il n’y a pas de mois 13. Écrivez d’abord le jour, puis le mois.",
    ),
    (
        "1990-02-30",
        "no_such_day",
        "1990-02-30 is not a date: February 1990 has 28 days.",
        "1990-02-30 n’est pas une date : février 1990 compte 28 jours.",
    ),
    (
        "04/07/90",
        "short_year",
        "Write the year with four digits, like 17/05/1990.",
        "Écrivez l’année avec quatre chiffres, par exemple 17/05/1990.",
    ),
    (
        "16/06/2026",
        "future",
        "Your birth date cannot be in the future.",
        "Votre date de naissance ne peut pas être dans le futur.",
    ),
    (
        "15/06/1905",  # 121 today
        "too_old",
        "Please check the year: that would make you more than 120 years old.",
        "Vérifiez l’année : vous auriez plus de 120 ans.",
    ),
    (
        "0000-01-01",
        "too_old",
        "Please check the year: that would make you more than 120 years old.",
        "Vérifiez l’année : vous auriez plus de 120 ans.",
    ),
    *[
        (
            garbage,
            "invalid",
            "Write your birth date as DD/MM/YYYY, like 17/05/1990.",
            "Écrivez votre date de naissance sous la forme JJ/MM/AAAA, par exemple 17/05/1990.",
        )
        for garbage in ("4 juillet 1990", "04/07", "1990", "04/07/19900", "٠٤/٠٧/١٩٩٠", "04//07/1990", "x" * 500)
    ],
]


@pytest.mark.parametrize(("typed", "code", "english", "french"), REFUSALS, ids=[r[0][:20] for r in REFUSALS])
def test_each_refusal_has_its_message_in_both_languages(typed, code, english, french):
    for language, message in (("en", english), ("fr", french)):
        with translation.override(language):
            form = EnrollmentForm(form_data(birth_date=typed), today=TODAY)
            assert not form.is_valid()
            assert form.errors["birth_date"] == [message]
            assert form.has_error("birth_date", code)


def test_an_impossible_date_is_refused_on_the_french_page_and_nothing_is_created(client, join_url, mailoutbox):
    response = client.post(join_url, form_data(birth_date="31/02/1990"), **FRENCH)
    assert response.status_code == 200
    html = response.content.decode()
    assert "31/02/1990 n’est pas une date : février 1990 compte 28 jours." in html
    # What was typed is shown back as typed, for the person to correct.
    assert 'value="31/02/1990"' in html
    assert (Customer.objects.count(), LoyaltyCard.objects.count(), mailoutbox) == (0, 0, [])


def test_the_french_page_shows_the_format_and_the_words_in_french(client, join_url):
    html = client.get(join_url, **FRENCH).content.decode()
    assert 'placeholder="JJ/MM/AAAA"' in html
    assert "Jour, mois, année : JJ/MM/AAAA." in html
    assert 'data-months="janvier|février|mars|avril|mai|juin|juillet|août|septembre|octobre|novembre|décembre"' in html
    assert 'data-words-first="1er %(month)s %(year)s"' in html
    assert 'aria-describedby="id_birth_date_helptext id_birth_date_echo"' in html
    assert 'id="id_birth_date_echo" aria-live="polite"' in html
    assert 'type="date"' not in html
    english = client.get(join_url).content.decode()
    assert 'placeholder="DD/MM/YYYY"' in english
    assert "Day, month, year: DD/MM/YYYY." in english
    assert 'data-months="January|February|' in english


@pytest.mark.parametrize(
    ("language", "day", "words"),
    [
        ("en", datetime.date(1990, 7, 4), "4 July 1990"),
        ("fr", datetime.date(1990, 7, 4), "4 juillet 1990"),
        ("en", datetime.date(1990, 7, 1), "1 July 1990"),
        ("fr", datetime.date(1990, 7, 1), "1er juillet 1990"),
        ("fr", datetime.date(1992, 2, 29), "29 février 1992"),
    ],
)
def test_date_in_words(language, day, words):
    with translation.override(language):
        assert date_in_words(day) == words


@pytest.mark.parametrize(
    ("headers", "typed", "notice", "line"),
    [
        ({}, "04/07/1990", "We saved your birth date as 4 July 1990.", "Birth date: 4 July 1990"),
        (
            FRENCH,
            "04/07/1990",
            "Nous avons enregistré votre date de naissance : 4 juillet 1990.",
            "Date de naissance : 4 juillet 1990",
        ),
        (FRENCH, "1990-07-01", "date de naissance : 1er juillet 1990.", "Date de naissance : 1er juillet 1990"),
    ],
)
def test_the_card_page_says_the_saved_date_in_words(
    client, join_url, django_capture_on_commit_callbacks, headers, typed, notice, line
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(join_url, form_data(birth_date=typed), follow=True, **headers)
    html = response.content.decode()
    assert response.redirect_chain[-1][0].startswith("/card/")
    assert notice in html
    assert line in html
    # The welcome notice is said once; the line stays on the card page.
    again = client.get(response.redirect_chain[-1][0], **headers).content.decode()
    assert notice not in again
    assert line in again
