"""The pages load in Chromium under the Content-Security-Policy without a single violation.

Chromium reports each refused script, style or image both on the console and as a
``securitypolicyviolation`` event; the test listens to both on the join page, the card page, the
POS page (signed in, a card scanned), the admin (index, a card, the adjust form), an API answer
opened in the browser and the API docs (Swagger UI, its start-up script from ``?script``).
"""

import pytest

from tests.browser import needs_chromium, screenshot
from tests.factories import CustomerFactory, ProgramFactory, StaffMemberFactory, StoreFactory, make_card

pytestmark = [pytest.mark.browser, needs_chromium, pytest.mark.django_db(transaction=True)]

TIMEOUT = 10_000
LISTEN = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI} ${event.sourceFile}:${event.lineNumber}`);
});
"""


class Violations:
    """Console messages about the policy, and the page's own securitypolicyviolation events."""

    def __init__(self, page):
        self.page = page
        self.console: list[str] = []
        page.add_init_script(LISTEN)
        page.on("console", self._console)

    def _console(self, message) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.console.append(message.text)

    def assert_none(self, where: str) -> None:
        events = self.page.evaluate("window.__cspViolations || []")
        assert not self.console and not events, f"{where}: {self.console + events}"


@pytest.fixture
def shop(db):
    program = ProgramFactory(stamps_target=30, background_color="#7c2d12", foreground_color="#fef3c7")
    store = StoreFactory(merchant=program.merchant, code="main", name="Main street")
    owner = StaffMemberFactory(merchant=program.merchant, stores=[store], role="owner")
    card = make_card(program=program, store=store, customer=CustomerFactory(merchant=program.merchant))
    return {"program": program, "store": store, "owner": owner, "card": card}


def test_customer_pages_have_no_csp_violation(browser, live_server, shop, request):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, locale="en-GB")
    page = context.new_page()
    violations = Violations(page)
    try:
        slug = shop["program"].merchant.slug
        page.goto(f"{live_server.url}/join/{slug}/?store=main")
        page.get_by_label("First name").wait_for(timeout=TIMEOUT)
        violations.assert_none("join page")
        page.goto(f"{live_server.url}/join/{slug}/terms/")
        violations.assert_none("terms page")
        page.goto(f"{live_server.url}/card/{shop['card'].qr_code_data}/")
        page.locator(".qr-code").wait_for(timeout=TIMEOUT)
        # The brand colour and the progress width come from nonce'd style blocks: applied, not refused.
        assert page.evaluate("getComputedStyle(document.body).getPropertyValue('--brand-bg').trim()") == "#7c2d12"
        assert page.locator(".progress-fill").count() == 1
        screenshot(page, request, "card")
        violations.assert_none("card page")
        page.goto(f"{live_server.url}/card/no-such-card/")
        violations.assert_none("404 page")
    finally:
        context.close()


def test_pos_admin_and_docs_have_no_csp_violation(browser, live_server, shop, request):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    page = context.new_page()
    violations = Violations(page)
    card = shop["card"]
    try:
        page.goto(f"{live_server.url}/pos/")
        page.get_by_label("Username").fill(shop["owner"].user.username)
        page.get_by_label("Password").fill("pass-word-1234")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{live_server.url}/pos/", timeout=TIMEOUT)
        field = page.get_by_label("Scan the card, or type a card number, email or phone")
        field.fill(card.card_number)
        field.press("Enter")
        page.get_by_text(card.card_number).first.wait_for(timeout=TIMEOUT)
        screenshot(page, request, "pos")
        violations.assert_none("POS page")

        # The same session opens the admin (an owner is staff).
        for path in (
            "/admin/",
            "/admin/loyalty/loyaltycard/",
            f"/admin/loyalty/loyaltycard/{card.pk}/change/",
            f"/admin/loyalty/loyaltycard/{card.pk}/adjust/",
            "/admin/customers/customer/add/",
            "/api/v1/staff/me/",  # JSON, not DRF's browsable API (whose inline styles the policy refuses)
        ):
            response = page.goto(f"{live_server.url}{path}")
            assert response.status == 200, path
            page.wait_for_load_state("load")
            violations.assert_none(path)
        screenshot(page, request, "admin")

        page.goto(f"{live_server.url}/api/v1/docs/")
        page.locator(".swagger-ui .info").wait_for(timeout=TIMEOUT)
        page.locator(".opblock").first.wait_for(timeout=TIMEOUT)
        screenshot(page, request, "docs")
        violations.assert_none("API docs")
    finally:
        context.close()
