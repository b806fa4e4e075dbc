"""The birth date typed on the join page, by keyboard, in Chromium set to French or to English.

The bug: a native date widget orders day and month after the browser's interface language, not
the page's, so 04/07/1990 typed on the French page was kept as 7 April. The page now has a text
field read day first on both sides. "A French browser" here is ``--lang=fr-FR`` with a fr-FR
context (navigator.language, Accept-Language); this Debian Chromium ships only its en-US interface
(locales/en-US.pak), and its native date widget typed 04/07/1990 as 1990-04-07 with either or
both settings: the bug reproduced in every browser below.
"""

import contextlib
import datetime

import pytest
from django.db import connections

from customers.models import Customer
from loyalty.models import LoyaltyCard
from tests.browser import chromium, screenshot

pytestmark = pytest.mark.browser

FRENCH_BROWSER = {"args": ("--lang=fr-FR",), "locale": "fr-FR"}
ENGLISH_BROWSER = {"args": ("--lang=en-US",), "locale": "en-US"}


@pytest.fixture
def open_page(live_server, program):
    """open_page(browser, **context options) -> a page on the join form in a Chromium set that way."""
    with contextlib.ExitStack() as stack:

        def opener(browser, **options):
            instance = stack.enter_context(chromium(*browser["args"]))
            context = instance.new_context(
                locale=browser["locale"], viewport={"width": 390, "height": 844}, is_mobile=True, **options
            )
            stack.callback(context.close)
            page = context.new_page()
            page.goto(f"{live_server.url}/join/{program.merchant.slug}/")
            return page

        yield opener
    connections.close_all()


def fill_the_rest(page):
    page.fill("#id_first_name", "Ada")
    page.fill("#id_last_name", "Lovelace")
    page.fill("#id_email", "ada@example.com")
    page.fill("#id_phone", "06 12 34 56 78")
    page.check("#id_accept_terms")


def type_birth_date(page, keys: str):
    field = page.locator("#id_birth_date")
    field.click()
    field.press_sequentially(keys, delay=20)


def echo(page) -> str:
    return page.locator("[data-testid=birth-date-echo]").inner_text()


def join_and_read_the_card(page) -> str:
    page.click("button[type=submit]")
    page.wait_for_url("**/card/**")
    return page.locator("[data-testid=joined-notice]").inner_text()


def test_french_page_in_a_french_browser_keeps_the_day_first(open_page, request):
    page = open_page(FRENCH_BROWSER)
    assert page.evaluate("navigator.language") == "fr-FR"
    assert page.get_attribute("html", "lang") == "fr"
    assert page.evaluate("document.getElementById('id_birth_date').type") == "text"
    assert page.get_attribute("#id_birth_date", "placeholder") == "JJ/MM/AAAA"
    fill_the_rest(page)
    type_birth_date(page, "04/07/1990")
    assert page.input_value("#id_birth_date") == "04/07/1990"
    assert echo(page) == "4 juillet 1990"
    screenshot(page, request, "join-fr")
    notice = join_and_read_the_card(page)
    assert "4 juillet 1990" in notice
    assert page.locator("[data-testid=birth-date]").inner_text() == "Date de naissance : 4 juillet 1990"
    screenshot(page, request, "card-fr")
    assert Customer.objects.get().birth_date == datetime.date(1990, 7, 4)


def test_digits_alone_get_their_slashes_and_keep_their_order(open_page):
    page = open_page(FRENCH_BROWSER)
    fill_the_rest(page)
    type_birth_date(page, "01071990")
    assert page.input_value("#id_birth_date") == "01/07/1990"
    assert echo(page) == "1er juillet 1990"
    # Correcting by keyboard: the added slash is deleted like any other character.
    page.keyboard.press("End")
    for _ in range(6):
        page.keyboard.press("Backspace")
    assert page.input_value("#id_birth_date") == "01/0"
    assert echo(page) == ""
    page.keyboard.type("8.1990")  # a dot after an added slash is not doubled
    assert page.input_value("#id_birth_date") == "01/08/1990"
    assert echo(page) == "1er août 1990"
    join_and_read_the_card(page)
    assert Customer.objects.get().birth_date == datetime.date(1990, 8, 1)


def test_french_page_in_a_french_browser_refuses_31_february(open_page, request):
    page = open_page(FRENCH_BROWSER)
    fill_the_rest(page)
    type_birth_date(page, "31/02/1990")
    message = "31/02/1990 n’est pas une date : février 1990 compte 28 jours."
    assert echo(page) == message
    assert page.locator("[data-testid=birth-date-echo]").get_attribute("class") == "date-echo error"
    screenshot(page, request, "refused-fr")
    page.click("button[type=submit]")
    # The browser keeps the form with the message as the field's own: nothing is sent.
    assert page.evaluate("document.getElementById('id_birth_date').validationMessage") == message
    page.wait_for_timeout(300)
    assert "/join/" in page.url
    assert (Customer.objects.count(), LoyaltyCard.objects.count()) == (0, 0)


def test_without_javascript_the_server_refuses_31_february(open_page, request):
    page = open_page(FRENCH_BROWSER, java_script_enabled=False)
    fill_the_rest(page)
    type_birth_date(page, "31/02/1990")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    error = page.locator("#id_birth_date_error").inner_text()
    assert error == "31/02/1990 n’est pas une date : février 1990 compte 28 jours."
    assert page.input_value("#id_birth_date") == "31/02/1990"
    screenshot(page, request, "refused-by-server-fr")
    assert (Customer.objects.count(), LoyaltyCard.objects.count()) == (0, 0)


def test_english_page_in_an_english_browser_keeps_the_day_first(open_page):
    page = open_page(ENGLISH_BROWSER)
    assert page.get_attribute("html", "lang") == "en"
    assert page.get_attribute("#id_birth_date", "placeholder") == "DD/MM/YYYY"
    fill_the_rest(page)
    type_birth_date(page, "31/02/1990")
    assert echo(page) == "31/02/1990 is not a date: February 1990 has 28 days."
    page.locator("#id_birth_date").fill("")
    type_birth_date(page, "04/07/1990")
    assert echo(page) == "4 July 1990"
    notice = join_and_read_the_card(page)
    assert "We saved your birth date as 4 July 1990." in notice
    assert page.locator("[data-testid=birth-date]").inner_text() == "Birth date: 4 July 1990"
    assert Customer.objects.get().birth_date == datetime.date(1990, 7, 4)


def test_french_page_in_an_english_browser_keeps_the_day_first(open_page, request):
    """The issue as reported: the page switched to French, the browser left in English."""
    page = open_page(ENGLISH_BROWSER)
    assert page.evaluate("navigator.language") == "en-US"
    page.click("button[name=language][value=fr]")
    page.wait_for_load_state()
    assert page.get_attribute("html", "lang") == "fr"
    fill_the_rest(page)
    type_birth_date(page, "04/07/1990")
    assert echo(page) == "4 juillet 1990"
    notice = join_and_read_the_card(page)
    assert "4 juillet 1990" in notice
    screenshot(page, request, "card-fr-in-en-browser")
    assert Customer.objects.get().birth_date == datetime.date(1990, 7, 4)
    assert Customer.objects.get().preferred_language == "fr"
