"""An owner imports 10,000 members through the admin upload in Chromium: check first, then import."""

import pytest
from django.db import connections

from customers.models import Customer
from loyalty.models import LoyaltyCard, LoyaltyTransaction
from loyalty.selectors import cards_out_of_balance
from tests.browser import needs_chromium, screenshot
from tests.test_csp_browser import Violations

pytestmark = [pytest.mark.browser, needs_chromium, pytest.mark.django_db(transaction=True)]

TIMEOUT = 120_000
ROWS = 10_000


def members_file(path, rows: int = ROWS, bad_line: bool = False):
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        handle.write("email;first_name;last_name;phone;birth_date;points;stamps\r\n")
        for number in range(rows):
            handle.write(
                f"member{number}@example.com;Ann;Member {number};+3361{number:07d};17/05/1990;{number % 300};{number % 9}\r\n"
            )
        if bad_line:
            handle.write("broken;;;;31/02/1990;-4;\r\n")
    return path


def sign_in(page, live_server, owner):
    page.goto(f"{live_server.url}/admin/login/?next=/admin/customers/customer/")
    page.fill("#id_username", owner.user.username)
    page.fill("#id_password", "pass-word-1234")
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/customers/customer/")


def test_an_owner_imports_10000_members_through_the_admin(browser, live_server, shop, tmp_path, request):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    page = context.new_page()
    violations = Violations(page)
    try:
        sign_in(page, live_server, shop["owner"])
        page.click("text=Import members (CSV)")
        page.wait_for_url("**/admin/customers/customer/import/")
        violations.assert_none("import page")

        # A file with one bad line: the check lists it, offers nothing to import, writes nothing.
        page.set_input_files("#id_file", str(members_file(tmp_path / "bad.csv", rows=20, bad_line=True)))
        page.get_by_role("button", name="Check the file").click()
        problems = page.locator("[data-testid=import-problems]")
        problems.wait_for(timeout=TIMEOUT)
        text = problems.inner_text()
        assert "31/02/1990 is not a date" in text and "a balance cannot be negative (-4)" in text
        assert page.locator("[data-testid=confirm-import]").count() == 0
        assert Customer.objects.count() == 0

        page.set_input_files("#id_file", str(members_file(tmp_path / "members.csv")))
        page.select_option("#id_store", label=str(shop["store"]))
        with page.expect_navigation(timeout=TIMEOUT):
            page.get_by_role("button", name="Check the file").click()
        summary = page.locator("[data-testid=import-summary]")
        summary.wait_for(timeout=TIMEOUT)
        assert f"{ROWS} rows checked" in summary.inner_text() and f"{ROWS} new members" in summary.inner_text()
        assert "2\tnew\tmember0@example.com" in page.locator("[data-testid=import-lines]").inner_text()
        assert Customer.objects.count() == 0, "the check writes nothing"
        screenshot(page, request, "checked")
        violations.assert_none("dry run report")

        page.get_by_role("button", name=f"Import {ROWS} members").click()
        page.wait_for_url(f"{live_server.url}/admin/customers/customer/", timeout=TIMEOUT)
        assert f"Imported {ROWS} member(s)" in page.inner_text(".messagelist")
        screenshot(page, request, "imported")
        violations.assert_none("after import")

        assert Customer.objects.filter(merchant=shop["merchant"]).count() == ROWS
        assert LoyaltyCard.objects.filter(enrolled_at_store=shop["store"]).count() == ROWS
        assert LoyaltyTransaction.objects.filter(type="points_import").count() == sum(
            1 for number in range(ROWS) if number % 300
        )
        assert not LoyaltyTransaction.objects.filter(type="welcome_bonus").exists()
        assert not cards_out_of_balance().exists()
        assert LoyaltyTransaction.objects.filter(type="points_import").first().staff_user == shop["owner"].user
    finally:
        context.close()
        connections.close_all()
