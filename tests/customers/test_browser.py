"""A person on a phone joins through the real page and lands on their card."""

import pytest
from django.db import connections

from customers.models import Customer
from loyalty.models import LoyaltyCard
from tests.browser import screenshot
from tests.customers.conftest import WELCOME_BONUS

pytestmark = pytest.mark.browser


def test_join_on_a_phone_and_see_the_card(browser, live_server, program, store, request):
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="en-GB",
    )
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/join/{program.merchant.slug}/?store={store.code}")
        assert page.locator("h1").inner_text().startswith("Join the")
        # The stylesheet is served by the app itself (no CDN) and applied.
        assert page.evaluate("getComputedStyle(document.querySelector('.brand-bar')).backgroundColor") == (
            "rgb(124, 45, 18)"
        )
        page.fill("#id_first_name", "Ada")
        page.fill("#id_last_name", "Lovelace")
        page.fill("#id_email", "Ada@Example.com")
        page.fill("#id_phone", "+33 6 12 34 56 78")
        page.locator("#id_birth_date").press_sequentially("17/05/1990")  # typed, day first
        assert page.locator("[data-testid=birth-date-echo]").inner_text() == "17 May 1990"
        page.check("#id_accept_terms")
        # Nothing overflows sideways on a phone.
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        screenshot(page, request, "join-form")
        page.click("button[type=submit]")
        page.wait_for_url("**/card/**")

        card = LoyaltyCard.objects.select_related("customer").get()
        assert page.url == f"{live_server.url}/card/{card.qr_code_data}/"
        qr = page.locator("[data-testid=card-qr] svg")
        qr.wait_for(state="visible")
        box = qr.bounding_box()
        assert box["width"] >= 150 and abs(box["width"] - box["height"]) < 2
        assert page.locator("[data-testid=card-number]").inner_text() == card.card_number
        assert page.locator("[data-testid=points-balance]").inner_text() == str(WELCOME_BONUS)
        activity = page.locator("[data-testid=activity]").inner_text()
        assert "Welcome bonus" in activity and f"+{WELCOME_BONUS} points" in activity
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        path = screenshot(page, request, "card-page")
        assert path.exists() and path.stat().st_size > 10_000

        customer = Customer.objects.get()
        assert customer.birth_date.isoformat() == "1990-05-17"
        assert customer.email == "ada@example.com"
        assert card.enrolled_at_store == store
    finally:
        context.close()
        # While Playwright's event loop runs, Django keys its connections by async context:
        # close the ones this test opened, or PostgreSQL cannot drop the test database.
        connections.close_all()


def test_terms_open_in_a_new_tab_and_the_form_keeps_what_was_typed(browser, live_server, program, request):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, locale="en-GB")
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/join/{program.merchant.slug}/")
        page.fill("#id_first_name", "Ada")
        with context.expect_page() as opened:
            page.click("text=Read the terms")
        terms = opened.value
        terms.wait_for_load_state()
        assert terms.url == f"{live_server.url}/join/{program.merchant.slug}/terms/"
        assert "loyalty program terms" in terms.locator("h1").inner_text()
        assert "Your personal data" in terms.inner_text("main")
        assert terms.evaluate("document.documentElement.scrollWidth") <= 390
        screenshot(terms, request, "terms-page")
        assert page.input_value("#id_first_name") == "Ada"
    finally:
        context.close()
        connections.close_all()
