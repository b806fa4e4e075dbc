"""The till asks for a manager's approval on the same screen and retries with the same key."""

from decimal import Decimal

import pytest

from loyalty import services
from loyalty.models import LoyaltyTransaction
from merchants.models import StaffMember
from tests.browser import needs_chromium, screenshot
from tests.factories import ProgramFactory, StaffMemberFactory, StoreFactory, make_card
from tests.loyalty.test_pos_browser import TIMEOUT, scan, sign_in, status

pytestmark = [pytest.mark.browser, needs_chromium, pytest.mark.django_db(transaction=True)]

Type = LoyaltyTransaction.Type


def test_a_manager_approves_a_large_redemption_at_the_till(browser, live_server, request):
    program = ProgramFactory(approval_threshold_points=100, points_per_euro=Decimal("1.00"))
    store = StoreFactory(merchant=program.merchant, code="main", name="Main street")
    cashier = StaffMemberFactory(merchant=program.merchant, stores=[store])
    manager = StaffMemberFactory(merchant=program.merchant, stores=[store], role="manager")
    card = make_card(program=program, store=store)
    services.earn_points(card=card, purchase_amount=Decimal("300"), store=store, staff_user=None)

    page = browser.new_page(viewport={"width": 1024, "height": 768})
    sign_in(page, live_server, cashier.user.username)
    scan(page, card.card_number)
    page.locator("#customer-name").wait_for(state="visible", timeout=TIMEOUT)

    page.get_by_role("button", name="Redeem reward").click()
    page.locator("#redeem-dialog").get_by_label("Or redeem an amount of points").fill("250")
    page.locator("#redeem-dialog").get_by_role("button", name="Redeem points").click()

    dialog = page.locator("#approval-dialog")
    dialog.wait_for(state="visible", timeout=TIMEOUT)
    assert "a manager must approve" in page.locator("#approval-error").text_content()
    dialog.get_by_label("Manager's username").fill(manager.user.username)
    dialog.get_by_label("Manager's PIN").fill("9999")
    dialog.get_by_role("button", name="Approve").click()
    page.locator("#approval-error").get_by_text("Wrong PIN").wait_for(timeout=TIMEOUT)
    assert StaffMember.objects.get(pk=manager.pk).pin_failed_attempts == 1
    screenshot(page, request, "approval")
    dialog.get_by_label("Manager's PIN").fill("1234")
    dialog.get_by_role("button", name="Approve").click()
    status(page).get_by_text("250 points").wait_for(timeout=TIMEOUT)
    assert page.locator("#points-balance").text_content() == "50"

    redeem = card.transactions.get(type=Type.POINTS_REDEEM)
    assert (redeem.points_delta, redeem.approved_by, redeem.staff_user) == (-250, manager.user, cashier.user)
    assert redeem.idempotency_key  # the key of the first press, reused by the approved retry
    assert StaffMember.objects.get(pk=manager.pk).pin_failed_attempts == 0
