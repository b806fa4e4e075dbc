"""The preferences page, the one-click unsubscribe link, the emails' headers, and the customer pages' polish."""

import datetime

import pytest
from django.core import signing
from django.db import IntegrityError, transaction
from django.forms import modelform_factory
from django.utils import timezone

from customers import preferences
from customers.models import Customer
from loyalty.models import LoyaltyProgram, LoyaltyTransaction
from tests.customers.conftest import form_data
from tests.factories import ProgramFactory, RewardFactory, make_card


def prefs_url(card):
    return f"/card/{card.qr_code_data}/preferences/"


def test_preferences_page_shows_and_saves_the_choices(client, card_factory):
    card = card_factory(marketing_opt_in=True)
    page = client.get(prefs_url(card))
    assert page.status_code == 200 and page["X-Robots-Tag"] == "noindex, nofollow"
    html = page.content.decode()
    assert 'name="emails"' in html and "checked" in html and 'name="preferred_language"' in html

    response = client.post(prefs_url(card), {"preferred_language": "fr"})  # both boxes unticked

    assert response.status_code == 302 and response["Location"] == prefs_url(card)
    customer = Customer.objects.get(pk=card.customer_id)
    assert (customer.email_opt_out, customer.marketing_opt_in, customer.preferred_language) == (True, False, "fr")
    assert response.cookies["django_language"].value == "fr"
    assert "Vos préférences sont enregistrées." in client.get(prefs_url(card)).content.decode()


def test_an_unknown_language_is_refused_and_nothing_is_written(client, card_factory):
    card = card_factory()
    response = client.post(prefs_url(card), {"emails": "on", "preferred_language": "xx"})
    assert response.status_code == 400
    assert "Choose one of the languages offered." in response.content.decode()
    customer = Customer.objects.get(pk=card.customer_id)
    assert (customer.email_opt_out, customer.preferred_language) == (False, "en")


def test_a_tampered_preferences_link_is_a_404_with_a_message(client, card_factory):
    card = card_factory()
    response = client.get(f"/card/{card.qr_code_data[:-1]}x/preferences/")
    assert response.status_code == 404
    assert "check that it was copied in full" in response.content.decode()
    assert client.post(f"/card/{card.qr_code_data}zz/preferences/", {"preferred_language": "fr"}).status_code == 404


def test_one_click_unsubscribe(client, card_factory):
    card = card_factory()
    url = (
        preferences.unsubscribe_url(card)
        .removeprefix("https://loyalty.example.com")
        .removeprefix("http://127.0.0.1:8000")
    )
    # A GET (a mail scanner following the link) only asks.
    assert "Stop emails from" in client.get(url).content.decode()
    assert Customer.objects.get(pk=card.customer_id).email_opt_out is False
    # The mail client's RFC 8058 POST, without a session or CSRF token.
    response = client.post(url, {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200 and 'data-testid="unsubscribed"' in response.content.decode()
    assert Customer.objects.get(pk=card.customer_id).email_opt_out is True


def test_a_tampered_unsubscribe_link_changes_nothing(client, card_factory):
    card = card_factory()
    other = card_factory()
    token = preferences.unsubscribe_token(card)
    forged = signing.dumps({"card": other.pk}, salt="not-the-salt")
    for bad in (
        f"/card/{card.qr_code_data}/preferences/unsubscribe/{token[:-2]}xx/",  # signature broken
        f"/card/{other.qr_code_data}/preferences/unsubscribe/{token}/",  # another card's address
        f"/card/{other.qr_code_data}/preferences/unsubscribe/{forged}/",  # signed with something else
    ):
        response = client.post(bad)
        assert response.status_code == 400, bad
        assert "was changed or cut short, so nothing was changed" in response.content.decode()
    assert not Customer.objects.filter(email_opt_out=True).exists()


def test_the_welcome_email_links_the_preferences(client, program, store, django_capture_on_commit_callbacks):
    from notifications.models import OutboundEmail

    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/join/{program.merchant.slug}/", form_data())
    email = OutboundEmail.objects.get(kind="card_welcome")
    assert "/preferences/unsubscribe/" in email.headers["List-Unsubscribe"]
    assert "/preferences/>" in email.headers["List-Unsubscribe"]
    assert email.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "#7c2d12" in email.body_html and "/preferences/" in email.body_text


def test_card_page_links_the_preferences_and_says_dates_in_words(client, card_factory):
    card = card_factory()
    LoyaltyTransaction.objects.filter(card=card).update(
        created_at=timezone.make_aware(datetime.datetime(2026, 12, 3, 12))
    )
    from loyalty import services

    services.add_stamp(card=card, store=None, staff_user=None)
    LoyaltyTransaction.objects.filter(card=card).update(
        created_at=timezone.make_aware(datetime.datetime(2026, 12, 3, 12))
    )
    html = client.get(f"/card/{card.qr_code_data}/").content.decode()
    assert f'href="{prefs_url(card)}"' in html
    assert "3 December 2026" in html and "12/03/2026" not in html and "03/12/2026" not in html
    html = client.get(f"/card/{card.qr_code_data}/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "3 décembre 2026" in html


def test_no_empty_welcome_bonus_row_on_a_stamps_only_card(client, db):
    card = make_card(kind="stamps")
    html = client.get(f"/card/{card.qr_code_data}/").content.decode()
    assert "Welcome bonus" not in html and "Nothing yet." in html


def test_rewards_speak_the_page_language(client, card_factory, program):
    RewardFactory(program=program, name="Croissant", name_fr="Croissant au beurre", description="Any", points_cost=5)
    card = card_factory()
    english = client.get(f"/card/{card.qr_code_data}/").content.decode()
    french = client.get(f"/card/{card.qr_code_data}/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Croissant" in english and "Croissant au beurre" not in english and "A free coffee" in english
    assert "Croissant au beurre" in french and "Un café offert" in french
    assert "Any" in french  # no French description: the default one


# --- bad program input ---------------------------------------------------------------------------


ProgramForm = modelform_factory(
    LoyaltyProgram, fields=["birthday_bonus_points", "birthday_bonus_stamps", "expiry_reminder_days"]
)


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"birthday_bonus_points": -1, "birthday_bonus_stamps": 0}, "birthday_bonus_points", "cannot be below zero"),
        ({"birthday_bonus_points": 0, "birthday_bonus_stamps": -2}, "birthday_bonus_stamps", "cannot be below zero"),
        (
            {"birthday_bonus_points": 0, "birthday_bonus_stamps": 0, "expiry_reminder_days": 0},
            "expiry_reminder_days",
            "at least 1 day",
        ),
    ],
)
def test_the_admin_form_refuses_bad_engagement_settings(db, data, field, message):
    program = ProgramFactory()
    form = ProgramForm(data, instance=program)
    assert not form.is_valid()
    assert message in form.errors[field][0]
    program.refresh_from_db()
    assert (program.birthday_bonus_points, program.birthday_bonus_stamps, program.expiry_reminder_days) == (0, 0, 14)


@pytest.mark.parametrize(
    "values", [{"birthday_bonus_points": -1}, {"birthday_bonus_stamps": -1}, {"expiry_reminder_days": 0}]
)
def test_the_database_refuses_bad_engagement_settings(db, values):
    program = ProgramFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        LoyaltyProgram.objects.filter(pk=program.pk).update(**values)


def test_the_service_refuses_an_unknown_language_and_writes_nothing(card_factory):
    from django.core.exceptions import ValidationError

    card = card_factory()
    with pytest.raises(ValidationError, match="Choose one of the languages offered."):
        preferences.update_preferences(
            customer=card.customer, email_opt_out=True, marketing_opt_in=True, preferred_language="xx"
        )
    customer = Customer.objects.get(pk=card.customer_id)
    assert (customer.email_opt_out, customer.marketing_opt_in, customer.preferred_language) == (False, False, "en")
