"""The till on a 1024x768 tablet: every action in view after a result; no PIN for what the card cannot take."""

from decimal import Decimal

import pytest

from loyalty import services
from tests.browser import needs_chromium, screenshot
from tests.factories import ProgramFactory, RewardFactory, StaffMemberFactory, StoreFactory, make_card
from tests.loyalty.test_pos_browser import TIMEOUT, enter_pin, scan, sign_in, status

pytestmark = [pytest.mark.browser, needs_chromium, pytest.mark.django_db(transaction=True)]


def test_every_action_is_in_view_at_1024x768_and_no_pin_for_a_known_refusal(browser, live_server, request):
    program = ProgramFactory(require_staff_pin=True, stamp_cooldown_minutes=30, stamps_target=8)
    store = StoreFactory(merchant=program.merchant, code="main", name="Main street")
    manager = StaffMemberFactory(merchant=program.merchant, stores=[store], role="manager")
    RewardFactory(program=program, name="Croissant", points_cost=10)
    card = make_card(program=program, store=store)
    services.earn_points(card=card, purchase_amount=Decimal("25"), store=store, staff_user=None)

    page = browser.new_page(viewport={"width": 1024, "height": 768})
    sign_in(page, live_server, manager.user.username)
    page.locator(".topbar").get_by_text("Main street").wait_for(
        state="visible", timeout=TIMEOUT
    )  # its name, not "main"
    scan(page, card.card_number)
    page.locator("#customer-name").wait_for(state="visible", timeout=TIMEOUT)
    page.get_by_role("button", name="Add stamp").click()
    enter_pin(page)
    status(page).get_by_text("Stamp added").wait_for(timeout=TIMEOUT)
    screenshot(page, request, "tablet-1024x768-after-stamp")

    buttons = page.locator(".actions button")
    assert buttons.count() == 7  # stamp, redeem stamps, earn, redeem, void points, undo a stamp, adjust
    for index in range(buttons.count()):
        box = buttons.nth(index).bounding_box()
        assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 768, (
            buttons.nth(index).text_content(),
            box,
        )
    assert page.evaluate("window.scrollY") == 0

    # A second stamp within the cooldown: said at once, no PIN asked.
    page.get_by_role("button", name="Add stamp").click()
    page.locator("#error").get_by_text("stamped moments ago").wait_for(timeout=TIMEOUT)
    assert not page.locator("#pin-dialog").is_visible()
    # A stamp reward the card cannot afford (1 of 8 stamps): the same.
    page.get_by_role("button", name="Redeem stamp reward").click()
    page.locator("#error").get_by_text("The card has 1 of the 8 stamps").wait_for(timeout=TIMEOUT)
    assert not page.locator("#pin-dialog").is_visible()
    assert card.transactions.count() == 3  # welcome, earn, one stamp
