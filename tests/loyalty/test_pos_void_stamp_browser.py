"""The cashier undoes, from the till, a stamp given by mistake today."""

import pytest

from loyalty import services
from loyalty.models import LoyaltyProgram, LoyaltyTransaction
from tests.browser import needs_chromium, screenshot
from tests.factories import CustomerFactory, ProgramFactory, StaffMemberFactory, StoreFactory, make_card
from tests.loyalty.test_pos_browser import TIMEOUT, scan, sign_in, status

pytestmark = [pytest.mark.browser, needs_chromium, pytest.mark.django_db(transaction=True)]
Type = LoyaltyTransaction.Type


def test_cashier_undoes_a_stamp_given_by_mistake(browser, live_server, request):
    program = ProgramFactory(kind=LoyaltyProgram.Kind.STAMPS, stamps_target=8, stamp_cooldown_minutes=0)
    store = StoreFactory(merchant=program.merchant, code="main", name="Main street")
    cashier = StaffMemberFactory(merchant=program.merchant, stores=[store])
    card = make_card(program=program, store=store, customer=CustomerFactory(merchant=program.merchant))
    services.add_stamp(card=card, store=store, staff_user=cashier.user)
    mistake = services.add_stamp(card=card, store=store, staff_user=cashier.user)

    page = browser.new_page(viewport={"width": 1024, "height": 768})
    sign_in(page, live_server, cashier.user.username)
    scan(page, card.card_number)
    page.locator("#customer-name").wait_for(state="visible", timeout=TIMEOUT)
    assert page.locator("#stamp-count-text").text_content() == "2 / 8"

    page.get_by_role("button", name="Undo a stamp").click()
    dialog = page.locator("#void-stamp-dialog")
    dialog.wait_for(state="visible", timeout=TIMEOUT)
    choices = dialog.locator("#void-stamp-rows button")
    assert choices.count() == 2  # today's two stamps
    screenshot(page, request, "1-undo-dialog")
    choices.first.click()  # the newest first, as the history lists them
    status(page).get_by_text("Undone: 1 stamp on the card now.").wait_for(timeout=TIMEOUT)
    assert page.locator("#stamp-count-text").text_content() == "1 / 8"

    void = card.transactions.get(type=Type.STAMP_VOID)
    assert void.related_transaction_id == mistake.transaction.pk
    assert void.stamps_delta == -1 and void.staff_user_id == cashier.user.pk

    # The undone stamp is no longer offered.
    page.get_by_role("button", name="Undo a stamp").click()
    dialog.wait_for(state="visible", timeout=TIMEOUT)
    assert dialog.locator("#void-stamp-rows button").count() == 1
    dialog.get_by_role("button", name="Cancel").click()
