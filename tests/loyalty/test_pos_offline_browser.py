"""The till keeps taking stamps and earns when the network drops, and sends them once when it returns."""

from decimal import Decimal

import pytest

from loyalty.models import LoyaltyTransaction
from tests.browser import needs_chromium, screenshot
from tests.factories import ProgramFactory, StaffMemberFactory, StoreFactory, make_card
from tests.loyalty.test_pos_browser import TIMEOUT, scan, sign_in, status

pytestmark = [pytest.mark.browser, needs_chromium, pytest.mark.django_db(transaction=True)]

Type = LoyaltyTransaction.Type


def test_stamps_and_earns_wait_offline_survive_a_reload_and_replay_once(browser, live_server, request):
    program = ProgramFactory(stamp_cooldown_minutes=30, points_per_euro=Decimal("1.00"))
    store = StoreFactory(merchant=program.merchant, code="main", name="Main street")
    cashier = StaffMemberFactory(merchant=program.merchant, stores=[store])
    card = make_card(program=program, store=store)

    context = browser.new_context(viewport={"width": 1024, "height": 768})
    page = context.new_page()
    sign_in(page, live_server, cashier.user.username)
    scan(page, card.card_number)
    page.locator("#customer-name").wait_for(state="visible", timeout=TIMEOUT)

    context.set_offline(True)
    page.get_by_role("button", name="Add stamp").click()
    status(page).get_by_text("1 waiting").wait_for(timeout=TIMEOUT)
    page.get_by_role("button", name="Earn points").click()
    page.locator("#earn-dialog").get_by_label("Purchase amount").fill("12.50")
    page.locator("#earn-dialog").get_by_role("button", name="Earn").click()
    status(page).get_by_text("2 waiting").wait_for(timeout=TIMEOUT)
    page.get_by_role("button", name="Add stamp").click()  # the cooldown will refuse this one
    page.locator("#offline-pending").get_by_text("3 waiting").wait_for(timeout=TIMEOUT)
    # What needs the network says so.
    page.get_by_role("button", name="Redeem reward").click()
    page.locator("#redeem-dialog").get_by_label("Or redeem an amount of points").fill("5")
    page.locator("#redeem-dialog").get_by_role("button", name="Redeem points").click()
    page.locator("#error").get_by_text("redeeming a reward needs the network").wait_for(timeout=TIMEOUT)
    screenshot(page, request, "offline-3-waiting")
    assert card.transactions.count() == 1  # the welcome row only: nothing reached the server

    # The page reloads while the API is still unreachable: the three operations are still there.
    page.route("**/api/v1/**", lambda route: route.abort())
    context.set_offline(False)
    page.reload()
    page.locator("#offline-pending").get_by_text("3 waiting").wait_for(timeout=TIMEOUT)
    assert card.transactions.count() == 1

    # The network returns: the queue is sent in order, each outcome shown, the refusal included.
    page.unroute("**/api/v1/**")
    log = page.locator("#offline-log li")
    log.nth(2).wait_for(timeout=20_000)
    texts = log.all_text_contents()
    assert "Stamp added" in texts[0]
    assert "12 points" in texts[1]
    assert "refused" in texts[2] and "stamped moments ago" in texts[2]
    page.locator("#offline-pending").wait_for(state="hidden", timeout=TIMEOUT)
    screenshot(page, request, "offline-replayed")

    # Exactly once each, even after another reload and more replay ticks.
    page.reload()
    page.wait_for_timeout(6_000)
    rows = list(card.transactions.order_by("id").values_list("type", flat=True))
    assert rows.count(Type.STAMP) == 1
    assert rows.count(Type.POINTS_EARN) == 1
    assert len(rows) == 3
    context.close()
