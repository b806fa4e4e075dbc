"""The POS in Chromium with a reward ladder, a tier and a store that does not take part."""

from decimal import Decimal

import pytest

from loyalty import services
from loyalty.models import LoyaltyProgram, LoyaltyTransaction, Tier
from tests.browser import needs_chromium, screenshot
from tests.factories import CustomerFactory, ProgramFactory, RewardFactory, StaffMemberFactory, StoreFactory, make_card
from tests.loyalty.test_pos_browser import TIMEOUT, scan, sign_in, status

pytestmark = [pytest.mark.browser, needs_chromium, pytest.mark.django_db(transaction=True)]


def test_cashier_redeems_the_ladder_reward_the_customer_picks(browser, live_server, request):
    program = ProgramFactory(kind=LoyaltyProgram.Kind.STAMPS, stamps_target=5, stamp_reward_description="A free coffee")
    store = StoreFactory(merchant=program.merchant, code="main", name="Main street")
    cashier = StaffMemberFactory(merchant=program.merchant, stores=[store])
    cake = RewardFactory(program=program, name="Cake", points_cost=None, stamps_cost=10)
    card = make_card(program=program, store=store, customer=CustomerFactory(merchant=program.merchant))
    for _ in range(11):
        services.add_stamp(card=card, store=store, staff_user=cashier.user)

    page = browser.new_page(viewport={"width": 1024, "height": 900})
    sign_in(page, live_server, cashier.user.username)
    scan(page, card.card_number)
    page.locator("#customer-name").wait_for(state="visible", timeout=TIMEOUT)
    assert page.locator("#stamp-hint").text_content() == "Reward available: A free coffee, Cake"

    page.get_by_role("button", name="Redeem stamp reward").click()
    dialog = page.locator("#stamp-rewards-dialog")
    dialog.wait_for(state="visible", timeout=TIMEOUT)
    assert dialog.get_by_role("button", name="A free coffee — 5 stamps").is_enabled()
    screenshot(page, request, "1-ladder")
    dialog.get_by_role("button", name="Cake — 10 stamps").click()
    status(page).get_by_text("Stamp reward redeemed: Cake (10 stamps).").wait_for(timeout=TIMEOUT)
    assert page.locator("#stamp-count-text").text_content() == "1 / 5"
    assert page.locator("#stamp-hint").text_content() == "4 more stamps until: A free coffee"

    # The ladder now shows what is out of reach, and its button is off.
    page.get_by_role("button", name="Redeem stamp reward").click()
    assert dialog.get_by_role("button", name="Cake — 10 stamps (9 more stamps needed)").is_disabled()
    dialog.get_by_role("button", name="Cancel").click()

    row = card.transactions.get(type=LoyaltyTransaction.Type.STAMP_REDEEM)
    assert (row.reward, row.stamps_delta, row.staff_user_id) == (cake, -10, cashier.user.pk)


def test_pos_shows_the_tier_and_a_store_that_does_not_take_part(browser, live_server, request):
    program = ProgramFactory(points_per_euro=Decimal("1.00"))
    store = StoreFactory(merchant=program.merchant, code="main", name="Main street", earns_loyalty=False)
    cashier = StaffMemberFactory(merchant=program.merchant, stores=[store])
    Tier.objects.create(program=program, name="Silver", min_points_12m=0, points_multiplier=Decimal("1.25"))
    card = make_card(program=program, store=store)
    services.review_tiers()

    page = browser.new_page(viewport={"width": 1024, "height": 900})
    sign_in(page, live_server, cashier.user.username)
    scan(page, card.card_number)
    page.locator("#customer-name").wait_for(state="visible", timeout=TIMEOUT)
    assert page.locator("#tier-badge").text_content() == "Silver · points ×1.25"
    notice = page.locator("#participation")
    assert notice.is_visible() and "does not give stamps or points" in notice.text_content()
    assert page.get_by_role("button", name="Add stamp").is_disabled()
    assert page.get_by_role("button", name="Earn points").is_disabled()
    assert page.get_by_role("button", name="Redeem reward").is_enabled()
    screenshot(page, request, "1-not-participating")
