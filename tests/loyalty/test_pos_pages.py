"""The /pos/ pages with the test client: sign-in, the page, escaping, static assets without CDN."""

import json
import re

import pytest
from django.contrib.staticfiles import finders

from tests.factories import CustomerFactory, StaffMemberFactory, StoreFactory, UserFactory, make_card


def test_pos_needs_login(client):
    response = client.get("/pos/")
    assert response.status_code == 302 and response["Location"].startswith("/pos/login/?next=/pos/")


def test_login_page_has_labelled_fields(client, db):
    html = client.get("/pos/login/").content.decode()
    assert '<label for="id_username">' in html and 'id="id_username"' in html
    assert '<label for="id_password">' in html and "autofocus" in html


def test_login_then_pos_page(client, cashier):
    response = client.post("/pos/login/", {"username": cashier.user.username, "password": "pass-word-1234"})
    assert response.status_code == 302 and response["Location"] == "/pos/"
    response = client.get("/pos/")
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")
    assert "csrftoken" in response.cookies


def test_wrong_password_shows_an_error(client, cashier):
    response = client.post("/pos/login/", {"username": cashier.user.username, "password": "wrong"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_login_is_rate_limited(client, cashier, settings):
    # The limits themselves, shared with the admin and the token endpoint: tests/merchants/test_login_limits.py.
    # A window of a day: a minute window could roll over between the failures and the last try.
    settings.LOYALTY_LOGIN_LIMIT_PER_USERNAME = "2/d"
    for _ in range(2):
        client.post("/pos/login/", {"username": cashier.user.username, "password": "wrong"})
    response = client.post("/pos/login/", {"username": cashier.user.username, "password": "pass-word-1234"})
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_page_bootstraps_staff_and_stores(client, cashier, store):
    station = StoreFactory(merchant=cashier.merchant, code="station", name="Station <kiosk>")
    cashier.stores.add(station)
    client.force_login(cashier.user)
    html = client.get("/pos/").content.decode()
    boot = json.loads(re.search(r'<script id="pos-bootstrap" type="application/json">(.*?)</script>', html).group(1))
    assert boot["staff"]["id"] == cashier.pk
    assert [s["code"] for s in boot["staff"]["stores"]] == ["main", "station"]
    assert "Station <kiosk>" not in html  # json_script escapes < and >
    assert 'id="btn-adjust"' not in html  # cashiers have no adjust button
    assert 'id="scan-input"' in html and "autofocus" in html
    assert '<label id="scan-label" for="scan-input">' in html


def test_managers_get_the_adjust_button(client, manager):
    client.force_login(manager.user)
    html = client.get("/pos/").content.decode()
    assert 'id="btn-adjust"' in html and 'id="adjust-dialog"' in html


def test_page_loads_only_local_assets(client, cashier):
    client.force_login(cashier.user)
    html = client.get("/pos/").content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert "/static/pos/pos.js" in sources and "/static/pos/pos.css" in sources
    assert all(not source.startswith(("http:", "https:", "//")) for source in sources), sources
    for asset in ("pos/pos.js", "pos/pos.css"):
        assert finders.find(asset)


def test_script_never_uses_innerhtml():
    source = open(finders.find("pos/pos.js"), encoding="utf-8").read()
    assert "innerHTML" not in source and "insertAdjacentHTML" not in source and "document.write" not in source
    assert "Idempotency-Key" in source and "X-CSRFToken" in source


def test_non_staff_user_gets_403_page(client, db):
    client.force_login(UserFactory())
    response = client.get("/pos/")
    assert response.status_code == 403
    assert "not a staff member" in response.content.decode()


def test_logout(client, cashier):
    client.force_login(cashier.user)
    response = client.post("/pos/logout/")
    assert response.status_code == 302 and response["Location"] == "/pos/login/"
    assert client.get("/pos/").status_code == 302


@pytest.mark.parametrize("name", ['<img src=x onerror="alert(1)">', "Zoé & <b>Co</b>"])
def test_customer_names_go_through_the_api_as_data(client, cashier, program, store, name):
    """The page renders names with textContent; the API returns them verbatim as JSON strings."""
    card = make_card(program=program, store=store, customer=CustomerFactory(merchant=program.merchant, first_name=name))
    client.force_login(cashier.user)
    data = client.get(f"/api/v1/cards/{card.card_number}/").json()
    assert data["customer"]["first_name"] == name
    assert name not in client.get("/pos/").content.decode()


def test_other_merchants_staff_never_see_the_card(client, card):
    other = StaffMemberFactory(stores=[StoreFactory()])
    client.force_login(other.user)
    assert client.get(f"/api/v1/cards/{card.card_number}/").status_code == 404
