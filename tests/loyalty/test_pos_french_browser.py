"""The cashier's page in French: the switcher, the page's and the API's words, at 1024x768."""

from decimal import Decimal

import pytest

from tests.browser import needs_chromium, screenshot
from tests.factories import ProgramFactory, StaffMemberFactory, StoreFactory, make_card
from tests.loyalty.test_pos_browser import TIMEOUT, sign_in, status

pytestmark = [pytest.mark.browser, needs_chromium, pytest.mark.django_db(transaction=True)]


def test_the_till_in_french(browser, live_server, request):
    program = ProgramFactory(points_per_euro=Decimal("1.00"), stamps_target=10)
    store = StoreFactory(merchant=program.merchant, code="main", name="Rue principale")
    cashier = StaffMemberFactory(merchant=program.merchant, stores=[store])
    card = make_card(program=program, store=store)

    page = browser.new_page(viewport={"width": 1024, "height": 768})
    sign_in(page, live_server, cashier.user.username)
    page.get_by_label("Language").select_option("fr")
    page.locator(".language").get_by_role("button", name="OK").click()
    page.locator("html[lang=fr]").wait_for(state="attached", timeout=TIMEOUT)
    assert page.locator("#btn-stamp").text_content() == "Ajouter un tampon"
    page.locator(".topbar").get_by_text("Rue principale").wait_for(state="visible", timeout=TIMEOUT)

    field = page.get_by_label("Scannez la carte, ou saisissez un numéro de carte, un e-mail ou un téléphone")
    field.fill(card.card_number)
    field.press("Enter")
    page.locator("#customer-name").wait_for(state="visible", timeout=TIMEOUT)

    page.get_by_role("button", name="Ajouter un tampon").click()
    status(page).get_by_text("Tampon ajouté : 1 sur 10.").wait_for(timeout=TIMEOUT)

    for attempt in range(2):  # the second earn with the same order number is refused by the API, in French
        page.get_by_role("button", name="Gagner des points").click()
        dialog = page.locator("#earn-dialog")
        dialog.get_by_label("Montant de l'achat (€)").fill("12.50")
        dialog.get_by_label("Numéro de commande (facultatif)").fill("T-1")
        dialog.get_by_role("button", name="Gagner des points").click()
        if attempt == 0:
            status(page).get_by_text("12 points gagnés. Solde : 12 points.").wait_for(timeout=TIMEOUT)
    page.locator("#error").get_by_text("La commande T-1 a déjà rapporté des points.").wait_for(timeout=TIMEOUT)
    assert "Points gagnés (commande T-1)" in page.locator("#transactions-body tr").nth(0).text_content()
    assert "Caissier" in page.locator(".topbar .who").text_content()
    screenshot(page, request, "french-1024x768")

    # Every action button in view, in French too.
    buttons = page.locator(".actions button")
    for index in range(buttons.count()):
        box = buttons.nth(index).bounding_box()
        assert box is not None and box["y"] + box["height"] <= 768, buttons.nth(index).text_content()
