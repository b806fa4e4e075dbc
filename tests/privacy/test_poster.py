"""The store's join poster in the admin: QR code to /join/<merchant>/?store=<code>, the promise, the colours."""

import re
from decimal import Decimal

import pytest

from merchants.posters import join_url, promise
from tests.factories import ProgramFactory, StoreFactory

POSTERS = "/admin/merchants/store/posters/"


def test_the_promise_in_words(shop, settings):
    program = shop["program"]
    assert promise(program) == ["A free coffee after 10 stamps", "1 point per euro, 50 welcome points"]
    program.kind = "points"
    program.points_per_euro = Decimal("1.50")
    program.welcome_bonus = 0
    program.birthday_bonus_points = 20
    assert promise(program) == ["1.5 points per euro", "A gift on your birthday"]


def test_the_owner_prints_the_poster_of_a_store(shop, client, settings):
    settings.LOYALTY_PUBLIC_BASE_URL = "https://loyalty.example.com"
    store = shop["store"]
    client.force_login(shop["owner"].user)
    change = client.get(f"/admin/merchants/store/{store.pk}/change/").content.decode()
    assert f"{POSTERS}?ids={store.pk}" in change

    response = client.get(POSTERS, {"ids": store.pk, "lang": "en"})
    assert response.status_code == 200
    html = response.content.decode()
    url = f"https://loyalty.example.com/join/{shop['merchant'].slug}/?store=main"
    assert join_url(store) == url
    assert url in html and "<svg" in html and 'class="qr-code"' in html
    assert "A free coffee after 10 stamps" in html and "1 point per euro, 50 welcome points" in html
    assert "Join our loyalty program" in html and "Main street" in html
    assert "@page { size: A4 portrait" in html
    nonce = re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"])[1]
    assert f'<style nonce="{nonce}">' in html and "background: #7c2d12" in html and "color: #fef3c7" in html
    assert "style=" not in html and "<script>" not in html

    french = client.get(POSTERS, {"ids": store.pk, "lang": "fr"}).content.decode()
    assert 'lang="fr"' in french
    assert "Rejoignez notre programme de fidélité" in french
    assert "A free coffee" not in french or "après 10 tampons" in french
    assert "1 point par euro, 50 points de bienvenue" in french


def test_the_list_action_prints_several_stores(shop, client):
    second = StoreFactory(merchant=shop["merchant"], code="station", name="Station")
    client.force_login(shop["owner"].user)
    response = client.post(
        "/admin/merchants/store/",
        {"action": "print_posters", "_selected_action": [shop["store"].pk, second.pk]},
    )
    assert response.status_code == 302 and response["Location"].startswith(POSTERS)
    page = client.get(response["Location"]).content.decode()
    assert page.count('data-testid="poster"') == 2 and "?store=station" in page


def test_another_merchants_store_is_a_404(shop, client):
    other = StoreFactory(merchant=ProgramFactory().merchant)
    client.force_login(shop["owner"].user)
    assert client.get(POSTERS, {"ids": other.pk}).status_code == 404
    assert client.get(POSTERS, {"ids": "x"}).status_code == 404
    assert client.get(POSTERS).status_code == 404
    client.force_login(shop["cashier"].user)
    assert client.get(POSTERS, {"ids": shop["store"].pk}).status_code in (302, 403, 404)


@pytest.mark.parametrize("kind", ["stamps", "points", "hybrid"])
def test_every_program_kind_has_a_promise(db, kind):
    assert promise(ProgramFactory(kind=kind, welcome_bonus=10))
