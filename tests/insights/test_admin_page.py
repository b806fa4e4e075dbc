"""/admin/insights/ and the admin home for owners and managers; downloads from the admin."""

import pytest
from django.urls import reverse

from tests.factories import UserFactory


@pytest.fixture
def owner_client(client, ledger):
    client.force_login(ledger["owner"].user)
    return client


def test_owner_sees_tiles_charts_tables_and_definitions(owner_client):
    response = owner_client.get("/admin/insights/", {"from": "2026-01-10", "to": "2026-01-20"})
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('class="insights-chart"') == 2
    for text in ["Points outstanding", "€2.50", "Main street", "Station kiosk", "carl", "How each figure is counted"]:
        assert text in html, text
    assert "A visit is a stamp or a points earn" in html
    assert "Zebra" not in html and "zed" not in html
    assert "<script" not in html.split("</header>", 1)[1]  # no script in the page itself


def test_page_in_french(owner_client):
    html = owner_client.get("/admin/insights/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Points en circulation" in html
    assert "Comment chaque chiffre est compté" in html


def test_bad_dates_show_a_message_and_the_default_period(owner_client):
    response = owner_client.get("/admin/insights/", {"from": "2026-01-20", "to": "2026-01-10"})
    assert response.status_code == 200
    assert "is after" in response.content.decode()


def test_other_merchants_store_is_404_and_cashier_is_refused(client, ledger):
    client.force_login(ledger["owner"].user)
    assert client.get("/admin/insights/", {"store": "zebra-main"}).status_code == 404
    assert client.get("/admin/insights/", {"store": "kiosk"}).status_code == 200
    client.force_login(ledger["cashier"].user)
    assert client.get("/admin/insights/").status_code in (302, 403)


def test_admin_downloads_have_a_bom_for_spreadsheets(owner_client):
    response = owner_client.get(reverse("insights:liability"), {"month": "2026-01"})
    content = b"".join(response.streaming_content).decode("utf-8")
    assert content.startswith("\ufeffmonth,opening_points")
    members = b"".join(owner_client.get(reverse("insights:members")).streaming_content).decode("utf-8")
    assert members.startswith("\ufeffcard_number")


def test_admin_home_shows_the_summary_to_owners_and_view_site_opens_the_join_page(owner_client):
    html = owner_client.get("/admin/").content.decode()
    assert "the last 30 days" in html
    assert 'href="/admin/insights/"' in html
    assert 'href="/join/alpha/"' in html


def test_operator_picks_a_merchant(client, ledger):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    html = client.get("/admin/insights/", {"merchant": "zebra"}).content.decode()
    assert "Zebra Bakery" in html and "zebra-main" in html
