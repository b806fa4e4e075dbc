"""The insights page in Chromium, on a tablet-sized screen: pickers, tiles, the two SVG charts."""

import pytest

from tests.browser import needs_chromium, screenshot

pytestmark = [pytest.mark.browser, needs_chromium, pytest.mark.django_db(transaction=True)]
TIMEOUT = 10_000


def test_owner_reads_the_insights_page(browser, live_server, ledger, request):
    page = browser.new_page(viewport={"width": 1024, "height": 1366})
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.get_by_label("Username").fill("olga")
    page.get_by_label("Password").fill("pass-word-1234")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/admin/", timeout=TIMEOUT)
    assert page.get_by_text("the last 30 days").is_visible()
    screenshot(page, request, "admin-home")

    page.get_by_role("link", name="Open Insights").click()
    page.wait_for_url("**/admin/insights/", timeout=TIMEOUT)
    page.get_by_label("From", exact=True).fill("2026-01-10")
    page.get_by_label("To", exact=True).fill("2026-01-20")
    page.get_by_label("Store", exact=True).select_option("")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**/admin/insights/?*from=2026-01-10*", timeout=TIMEOUT)

    tile = page.locator(".tile", has_text="Points outstanding")
    assert "50" in tile.locator(".tile-value").text_content()
    assert "€2.50" in tile.text_content()
    assert page.locator("svg.insights-chart").count() == 2
    bars = page.locator("svg.insights-chart rect.series-b")
    assert bars.count() == 11  # one visits bar per day
    box = page.locator("svg.insights-chart").first.bounding_box()
    assert box["width"] > 500 and box["height"] > 150  # drawn full width on a tablet, not collapsed
    assert page.locator("svg.insights-chart polyline.series-c").count() == 1
    # Nothing wider than the tablet's screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 1024
    screenshot(page, request, "insights")

    with page.expect_download() as download:
        page.get_by_role("link", name="Liability report (CSV)").click()
    assert download.value.suggested_filename == "liability-alpha-2026-01.csv"
