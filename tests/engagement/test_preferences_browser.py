"""A customer opens the preferences from their card page in Chromium, switches emails off and picks French."""

import pytest
from django.db import connections

from customers.models import Customer
from tests.browser import screenshot

pytestmark = pytest.mark.browser


def test_preferences_page_in_a_phone_browser(browser, live_server, card_factory, request):
    card = card_factory(marketing_opt_in=True)
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, locale="en-GB")
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/card/{card.qr_code_data}/")
        page.click("[data-testid=preferences-link]")
        page.wait_for_url("**/preferences/")
        assert page.locator("h1").inner_text() == "Email preferences"
        assert page.is_checked("#id_emails") and page.is_checked("#id_marketing_opt_in")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        screenshot(page, request, "preferences")

        page.uncheck("#id_emails")
        page.uncheck("#id_marketing_opt_in")
        page.select_option("#id_preferred_language", "fr")
        page.click("button[type=submit].primary")
        page.wait_for_selector("[data-testid=preferences-saved]")

        # The page now speaks French, and says so.
        assert page.locator("[data-testid=preferences-saved]").inner_text() == "Vos préférences sont enregistrées."
        assert page.locator("h1").inner_text() == "Préférences e-mail"
        assert not page.is_checked("#id_emails") and not page.is_checked("#id_marketing_opt_in")
        assert page.input_value("#id_preferred_language") == "fr"
        screenshot(page, request, "preferences-saved-fr")
        customer = Customer.objects.get(pk=card.customer_id)
        assert (customer.email_opt_out, customer.marketing_opt_in, customer.preferred_language) == (True, False, "fr")

        page.click("text=Retour à ma carte")
        page.wait_for_url(f"**/card/{card.qr_code_data}/")
        assert "Préférences e-mail" in page.inner_text("main")
    finally:
        context.close()
        connections.close_all()
