"""The join page: success, duplicates, closed enrollment, 404s, honeypot, rate limit, language."""

import datetime
import re

import pytest
from django.conf import settings
from django.utils import timezone

from customers.models import Customer
from loyalty.models import LoyaltyCard, LoyaltyTransaction
from tests.customers.conftest import WELCOME_BONUS, form_data
from tests.factories import CustomerFactory, MerchantFactory, ProgramFactory, StoreFactory, make_card

Type = LoyaltyTransaction.Type


def counts():
    return Customer.objects.count(), LoyaltyCard.objects.count(), LoyaltyTransaction.objects.count()


def post(client, url, data, capture, **extra):
    """POST and run the after-commit callbacks (the emails) as a real request would."""
    with capture(execute=True):
        return client.post(url, data, **extra)


# --- success -------------------------------------------------------------------------------


def test_get_shows_the_form_in_the_merchant_branding(client, join_url, program):
    response = client.get(join_url)
    assert response.status_code == 200
    html = response.content.decode()
    for name in ("first_name", "last_name", "email", "phone", "birth_date", "accept_terms", "marketing_opt_in"):
        assert f'name="{name}"' in html
    assert 'name="csrfmiddlewaretoken"' in html
    # Plain text typed day first, never the browser's own date widget (see test_birth_date.py).
    assert 'type="date"' not in html
    assert 'name="birth_date" inputmode="numeric" autocomplete="bday"' in html
    assert 'placeholder="DD/MM/YYYY"' in html
    assert "/static/customers/birth-date.js" in html
    assert "--brand-bg: #7c2d12" in html
    assert "Demo Coffee" in html
    assert "50 welcome points" in html
    assert "/static/customers/public.css" in html


def test_enrollment_creates_customer_card_and_bonus_then_redirects_to_the_card(
    client, join_url, merchant, store, django_capture_on_commit_callbacks, mailoutbox
):
    data = form_data(
        first_name="  Ada ",
        email="  Ada.Lovelace@Example.COM",
        phone="06 12 34 56 78",
        birth_date="17/05/1990",
        marketing_opt_in="on",
    )
    response = post(client, f"{join_url}?store=main", data, django_capture_on_commit_callbacks)

    customer = Customer.objects.get()
    card = LoyaltyCard.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/card/{card.qr_code_data}/"
    assert customer.merchant == merchant
    assert (customer.first_name, customer.last_name) == ("Ada", "Lovelace")
    assert customer.email == "ada.lovelace@example.com"
    assert customer.phone == "+33612345678"
    assert customer.birth_date == datetime.date(1990, 5, 17)
    assert customer.marketing_opt_in is True
    assert customer.terms_accepted_at is not None
    assert customer.preferred_language == "en"
    assert card.customer == customer
    assert card.enrolled_at_store == store
    assert card.points_balance == WELCOME_BONUS
    [row] = card.transactions.all()
    assert (row.type, row.points_delta, row.store) == (Type.WELCOME_BONUS, WELCOME_BONUS, store)

    # The welcome email carries the absolute card link.
    [email] = mailoutbox
    assert email.to == ["ada.lovelace@example.com"]
    assert f"{settings.LOYALTY_PUBLIC_BASE_URL}/card/{card.qr_code_data}/" in email.body
    assert card.card_number in email.body


def test_without_store_the_card_has_no_enrollment_store(client, join_url, django_capture_on_commit_callbacks):
    post(client, join_url, form_data(), django_capture_on_commit_callbacks)
    assert LoyaltyCard.objects.get().enrolled_at_store is None


def test_marketing_opt_in_defaults_to_no(client, join_url, django_capture_on_commit_callbacks):
    post(client, join_url, form_data(), django_capture_on_commit_callbacks)
    assert Customer.objects.get().marketing_opt_in is False


def test_the_customers_language_is_stored_and_used_for_the_email(
    client, join_url, django_capture_on_commit_callbacks, mailoutbox
):
    response = client.get(join_url, HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9")
    assert "Prénom" in response.content.decode()
    assert response.context["LANGUAGE_CODE"] == "fr"
    post(client, join_url, form_data(), django_capture_on_commit_callbacks, HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9")
    assert Customer.objects.get().preferred_language == "fr"
    [email] = mailoutbox
    assert "Bienvenue" in email.subject


def test_language_switcher_sets_the_language(client, join_url):
    response = client.post("/language/", {"language": "fr", "next": join_url})
    assert response.status_code == 302
    assert response["Location"] == join_url
    page = client.get(join_url).content.decode()
    assert '<html lang="fr">' in page
    assert "Obtenir ma carte" in page


def test_french_validation_messages(client, join_url):
    response = client.post(join_url, form_data(birth_date="31/02/1990", accept_terms=None), HTTP_ACCEPT_LANGUAGE="fr")
    assert response.context["form"].errors == {
        "birth_date": ["31/02/1990 n’est pas une date : février 1990 compte 28 jours."],
        "accept_terms": ["Vous devez accepter les conditions pour vous inscrire."],
    }


# --- duplicates ------------------------------------------------------------------------------


def test_duplicate_email_never_makes_a_second_card_and_sends_one_link(
    client, join_url, django_capture_on_commit_callbacks, mailoutbox
):
    post(client, join_url, form_data(), django_capture_on_commit_callbacks)
    card = LoyaltyCard.objects.get()
    mailoutbox.clear()

    response = post(
        client,
        join_url,
        form_data(first_name="Mallory", email="  ADA.LOVELACE@example.com ", phone="0700000000"),
        django_capture_on_commit_callbacks,
    )

    assert response.status_code == 302
    assert response["Location"] == f"{join_url}sent/"
    page = client.get(response["Location"])
    html = page.content.decode()
    assert "We sent a link to your card" in html
    # Nothing about the existing card is shown to whoever typed the address.
    for secret in (card.qr_code_data, card.card_number):
        assert secret not in html
    # Whole words only: a random CSRF token or a factory's "Merchant 150" may hold the letters.
    assert not re.search(rf"\bAda\b|\b{WELCOME_BONUS}\s+points?\b", html)
    assert Customer.objects.count() == 1
    assert LoyaltyCard.objects.count() == 1
    assert LoyaltyTransaction.objects.filter(type=Type.WELCOME_BONUS).count() == 1
    customer = Customer.objects.get()
    assert (customer.first_name, customer.phone) == ("Ada", "+33612345678")  # not overwritten
    assert len(mailoutbox) == 1
    [email] = mailoutbox
    assert email.to == ["ada.lovelace@example.com"]
    assert f"{settings.LOYALTY_PUBLIC_BASE_URL}/card/{card.qr_code_data}/" in email.body
    assert "already have a card" in email.body


def test_repeated_duplicates_do_not_flood_the_inbox(
    client, join_url, program, django_capture_on_commit_callbacks, mailoutbox
):
    make_card(program=program, customer=CustomerFactory(merchant=program.merchant, email="ada.lovelace@example.com"))
    for _ in range(3):
        response = post(client, join_url, form_data(), django_capture_on_commit_callbacks)
        assert response["Location"] == f"{join_url}sent/"
    assert len(mailoutbox) == 1
    assert LoyaltyCard.objects.count() == 1


def test_existing_customer_with_mixed_case_email_is_found(
    client, join_url, program, django_capture_on_commit_callbacks
):
    customer = CustomerFactory(merchant=program.merchant, email="Ada.Lovelace@Example.com")
    make_card(program=program, customer=customer)
    post(client, join_url, form_data(email="ada.lovelace@example.com"), django_capture_on_commit_callbacks)
    assert LoyaltyCard.objects.count() == 1
    assert Customer.objects.count() == 1


def test_customer_registered_by_the_shop_without_a_card_gets_it_by_email_only(
    client, join_url, program, django_capture_on_commit_callbacks, mailoutbox
):
    customer = CustomerFactory(merchant=program.merchant, first_name="Registered", email="ada.lovelace@example.com")
    response = post(client, join_url, form_data(first_name="Someone"), django_capture_on_commit_callbacks)
    # A card is issued for the known customer, but whoever typed the address does not see it.
    assert response["Location"] == f"{join_url}sent/"
    card = LoyaltyCard.objects.get()
    assert card.customer == customer
    assert card.points_balance == WELCOME_BONUS
    html = client.get(response["Location"]).content.decode()
    assert "Registered" not in html and card.card_number not in html
    [email] = mailoutbox
    assert email.to == ["ada.lovelace@example.com"]
    assert f"/card/{card.qr_code_data}/" in email.body
    assert Customer.objects.get().first_name == "Registered"


def test_joining_again_after_the_card_was_deleted_gives_a_new_card_without_a_second_bonus(
    client, join_url, program, django_capture_on_commit_callbacks, mailoutbox
):
    from loyalty import services

    customer = CustomerFactory(merchant=program.merchant, email="ada.lovelace@example.com")
    deleted = make_card(program=program, customer=customer)
    services.soft_delete_cards(card_ids=[deleted.pk])
    response = post(client, join_url, form_data(), django_capture_on_commit_callbacks)
    assert response["Location"] == f"{join_url}sent/"
    card = LoyaltyCard.objects.alive().get()
    assert card.pk != deleted.pk and card.customer == customer
    assert card.points_balance == 0
    [email] = mailoutbox
    assert f"/card/{card.qr_code_data}/" in email.body


def test_same_email_at_another_merchant_gets_its_own_card(client, join_url, django_capture_on_commit_callbacks):
    other = ProgramFactory(welcome_bonus=5)
    make_card(program=other, customer=CustomerFactory(merchant=other.merchant, email="ada.lovelace@example.com"))
    response = post(client, join_url, form_data(), django_capture_on_commit_callbacks)
    assert response["Location"].startswith("/card/")
    assert LoyaltyCard.objects.count() == 2


# --- closed, inactive, unknown -------------------------------------------------------------


@pytest.mark.parametrize("closed_by", ["enrollment_closed", "merchant_inactive", "no_active_program"])
def test_closed_enrollment_is_a_friendly_page(client, join_url, merchant, program, closed_by, mailoutbox):
    if closed_by == "enrollment_closed":
        merchant.enrollment_open = False
        merchant.save()
    elif closed_by == "merchant_inactive":
        merchant.is_active = False
        merchant.save()
    else:
        program.is_active = False
        program.save()
    for response in (client.get(join_url), client.post(join_url, form_data())):
        assert response.status_code == 200
        assert "Not taking new members right now" in response.content.decode()
        assert "form" not in response.context
    assert counts() == (0, 0, 0)
    assert mailoutbox == []


def test_unknown_merchant_is_404(client, db):
    response = client.get("/join/no-such-merchant/")
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()
    assert client.post("/join/no-such-merchant/", form_data()).status_code == 404


def test_unknown_store_is_404_and_creates_nothing(client, join_url, merchant, store):
    other_store = StoreFactory(merchant=MerchantFactory(), code="elsewhere")
    StoreFactory(merchant=merchant, code="closed", is_active=False)
    for code in ("nope", other_store.code, "closed", "MAIN", "%00", "main%00", "x" * 300):
        assert client.get(f"{join_url}?store={code}").status_code == 404
        assert client.post(f"{join_url}?store={code}", form_data()).status_code == 404
    assert counts() == (0, 0, 0)
    assert client.get(f"{join_url}?store=main").status_code == 200


# --- bots -------------------------------------------------------------------------------------


def test_honeypot_creates_nothing_but_looks_like_success(
    client, join_url, django_capture_on_commit_callbacks, mailoutbox
):
    response = post(client, join_url, form_data(leave_blank="http://spam.example"), django_capture_on_commit_callbacks)
    assert response.status_code == 302
    assert response["Location"] == f"{join_url}sent/"
    assert counts() == (0, 0, 0)
    assert mailoutbox == []
    # Even with invalid data the bot gets no validation feedback.
    response = client.post(join_url, form_data(email="junk", leave_blank="x"))
    assert response.status_code == 302
    assert counts() == (0, 0, 0)


def test_honeypot_is_in_the_form_but_hidden_from_people(client, join_url):
    html = client.get(join_url).content.decode()
    assert 'name="leave_blank"' in html
    assert '<div class="hp" aria-hidden="true">' in html
    assert 'tabindex="-1"' in html


def test_enrollment_posts_are_rate_limited_per_address(client, join_url, settings, django_capture_on_commit_callbacks):
    settings.LOYALTY_ENROLL_RATE_LIMIT = "2/h"
    for index in range(2):
        response = post(
            client, join_url, form_data(email=f"person{index}@example.com"), django_capture_on_commit_callbacks
        )
        assert response.status_code == 302
    response = post(client, join_url, form_data(email="person3@example.com"), django_capture_on_commit_callbacks)
    assert response.status_code == 429
    assert "Too many attempts" in response.content.decode()
    assert Customer.objects.count() == 2
    # Reading the page is not limited, and another address still gets through.
    assert client.get(join_url).status_code == 200
    response = post(
        client,
        join_url,
        form_data(email="person4@example.com"),
        django_capture_on_commit_callbacks,
        REMOTE_ADDR="10.1.2.3",
    )
    assert response.status_code == 302
    assert Customer.objects.count() == 3


def test_invalid_posts_count_towards_the_rate_limit(client, join_url, settings):
    settings.LOYALTY_ENROLL_RATE_LIMIT = "1/m"
    assert client.post(join_url, form_data(email="bad")).status_code == 200
    assert client.post(join_url, form_data()).status_code == 429
    assert counts() == (0, 0, 0)


def test_csrf_is_enforced(join_url, db):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    assert strict.post(join_url, form_data()).status_code == 403
    assert counts() == (0, 0, 0)


def test_today_in_the_merchant_timezone_is_the_reference(client, join_url, django_capture_on_commit_callbacks):
    today = timezone.localdate()
    response = post(client, join_url, form_data(birth_date=today.isoformat()), django_capture_on_commit_callbacks)
    assert response.status_code == 302
    assert Customer.objects.get().birth_date == today


def test_friendly_error_pages_render(rf, db):
    from django.views.defaults import server_error

    response = server_error(rf.get("/join/x/"))
    assert response.status_code == 500
    assert "Something went wrong" in response.content.decode()
