"""The admin as a new café owner meets it (issue 13, "An admin made for a café owner")."""

import pytest
from django.urls import reverse

from tests.browser import needs_chromium


@pytest.fixture
def owner_client(client, ledger):
    client.force_login(ledger["owner"].user)
    return client


def test_wallet_internals_are_for_the_operator_only(owner_client, admin_client):
    html = owner_client.get("/admin/").content.decode()
    for internal in ["Apple device registrations", "Google Wallet class", "Wallet updates"]:
        assert internal not in html, internal
    for name in ["appledeviceregistration", "googlewalletclass", "walletupdate"]:
        assert owner_client.get(reverse(f"admin:wallet_{name}_changelist")).status_code == 403
        assert admin_client.get(reverse(f"admin:wallet_{name}_changelist")).status_code == 200
    assert "Wallet passes" in html


def test_a_card_shows_its_recent_ledger_and_history(owner_client, ledger):
    c1 = ledger["cards"][0]
    html = owner_client.get(reverse("admin:loyalty_loyaltycard_change", args=[c1.pk])).content.decode()
    assert "Recent ledger" in html
    assert "Points redeemed" in html and "goodwill" in html and "carl" in html
    assert f"?card__id__exact={c1.pk}" in html
    history = owner_client.get(reverse("admin:loyalty_loyaltycard_history", args=[c1.pk])).content.decode()
    assert "goodwill" in history and "Ledger (newest first)" in history


def test_a_customer_shows_cards_and_balances(owner_client, ledger):
    c1 = ledger["cards"][0]
    html = owner_client.get(reverse("admin:customers_customer_change", args=[c1.customer_id])).content.decode()
    assert "Cards and balances" in html
    assert c1.card_number in html


def test_titles_use_card_numbers(owner_client, ledger):
    c1 = ledger["cards"][0]
    row = c1.transactions.filter(type="points_adjust").first()
    html = owner_client.get(reverse("admin:loyalty_loyaltytransaction_change", args=[row.pk])).content.decode()
    assert f"Points adjusted, card {c1.card_number}" in html


def test_filters_read_as_sentences(owner_client):
    html = owner_client.get(reverse("admin:loyalty_loyaltycard_changelist")).content.decode()
    assert "By is active" not in html
    assert "By status" in html and "Inactive" in html
    assert "By store of enrollment" in html and "Live cards" in html
    customers = owner_client.get(reverse("admin:customers_customer_changelist")).content.decode()
    assert "By marketing consent" in customers and "Opted in" in customers


@needs_chromium
@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_lists_fit_a_laptop_screen(browser, live_server, ledger):
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.get_by_label("Username").fill("olga")
    page.get_by_label("Password").fill("pass-word-1234")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/admin/")
    for name in ["loyalty_loyaltycard", "customers_customer", "loyalty_loyaltytransaction"]:
        page.goto(live_server.url + reverse(f"admin:{name}_changelist"))
        assert page.evaluate("document.documentElement.scrollWidth") <= 1440, name
