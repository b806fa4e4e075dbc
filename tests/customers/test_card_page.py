"""The customer's card page: the token is the only key."""

import re

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from customers.views import qr_code_svg
from loyalty import services
from loyalty.models import LoyaltyCard
from tests.customers.conftest import WELCOME_BONUS
from tests.factories import CustomerFactory, ProgramFactory, RewardFactory, make_card


@pytest.fixture
def card(program, store):
    return make_card(program=program, store=store)


def card_url(card: LoyaltyCard) -> str:
    return f"/card/{card.qr_code_data}/"


def test_card_page_shows_qr_number_balances_and_welcome_bonus(client, card, program):
    response = client.get(card_url(card))
    assert response.status_code == 200
    html = response.content.decode()
    assert card.card_number in html
    assert f'<strong data-testid="points-balance">{WELCOME_BONUS}</strong>' in html
    assert "Welcome bonus" in html
    assert f"+{WELCOME_BONUS} points" in html
    assert 'data-testid="stamp-count">0 / 8<' in html
    assert html.count('class="stamp"') == program.stamps_target
    assert "8 more stamps until: A free coffee." in html
    assert "--brand-bg: #7c2d12" in html


def test_card_page_is_never_cached_and_not_indexed(client, card):
    response = client.get(card_url(card))
    assert "no-store" in response["Cache-Control"]
    assert "private" in response["Cache-Control"]
    assert response["X-Robots-Tag"] == "noindex, nofollow"
    assert response.headers.get("Referrer-Policy") == "same-origin"


def test_qr_is_server_side_svg_of_the_cards_qr_data(client, card):
    html = client.get(card_url(card)).content.decode()
    assert "<svg" in html and 'class="qr-code"' in html
    expected = qr_code_svg(card.qr_code_data, f"QR code of card {card.card_number}")
    assert str(expected) in html
    # No image from anywhere else: the only external references are none at all.
    assert not re.search(r'src="https?://', html)
    assert "googleapis" not in html and "cdn" not in html.lower()


@pytest.mark.parametrize("token", ["unknown-token", "x" * 32, "%00", "abc%00def", "a.b", "x" * 65, "%C3%A9"])
def test_unknown_token_is_404(client, card, token):
    response = client.get(f"/card/{token}/")
    assert response.status_code == 404


def test_token_is_the_only_key(client, card):
    assert client.get(f"/card/{card.card_number}/").status_code == 404
    assert client.get(f"/card/{card.pk}/").status_code == 404
    assert client.get(f"/card/{card.qr_code_data.upper()}/").status_code in (200, 404)  # tokens are case-sensitive
    if card.qr_code_data.upper() != card.qr_code_data:
        assert client.get(f"/card/{card.qr_code_data.upper()}/").status_code == 404


def test_deleted_card_is_404_and_deactivated_card_says_so(client, card, program):
    services.set_cards_active(card_ids=[card.pk], active=False)
    response = client.get(card_url(card))
    assert response.status_code == 200
    assert "This card is not active" in response.content.decode()
    services.soft_delete_cards(card_ids=[card.pk])
    assert client.get(card_url(card)).status_code == 404


def test_names_are_escaped_on_the_card_page(client, program):
    customer = CustomerFactory(merchant=program.merchant, first_name="<script>alert(1)</script>", last_name="<b>x</b>")
    card = make_card(program=program, customer=customer)
    html = client.get(card_url(card)).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_rewards_on_offer_are_the_programs_active_rewards(client, card, program):
    RewardFactory(program=program, name="Croissant", points_cost=30)
    RewardFactory(program=program, name="Lunch <menu>", points_cost=120)
    RewardFactory(program=program, name="Retired mug", points_cost=10, is_active=False)
    RewardFactory(program=ProgramFactory(), name="Other merchant's cake", points_cost=5)
    html = client.get(card_url(card)).content.decode()
    assert "Croissant" in html
    assert "Lunch &lt;menu&gt;" in html
    assert "Retired mug" not in html
    assert "Other merchant" not in html
    # 50 points: the croissant is within reach, the lunch is not.
    croissant = html[html.index("Croissant") - 200 : html.index("Croissant") + 400]
    assert "Available" in croissant
    lunch = html[html.index("Lunch &lt;menu&gt;") : html.index("Lunch &lt;menu&gt;") + 400]
    assert "Available" not in lunch


def test_recent_activity_shows_the_last_ten_rows(client, card, store, cashier):
    for _ in range(12):
        services.add_stamp(card=card, store=store, staff_user=cashier.user)
    services.earn_points(
        card=card, store=store, staff_user=cashier.user, purchase_amount="12.50", order_reference="A-1"
    )
    html = client.get(card_url(card)).content.decode()
    activity = html[html.index('data-testid="activity"') :]
    assert activity.count("<li>") == 10
    assert "Points earned" in activity
    assert "+12 points" in activity
    assert "Welcome bonus" not in activity  # older than the last ten
    assert "Main street" in activity
    card.refresh_from_db()
    assert 'data-testid="stamp-count">12 / 8<' in html
    assert "Your reward is ready: A free coffee." in html


def test_stamps_only_program_shows_no_points(client, db):
    program = ProgramFactory(kind="stamps", stamps_target=30, welcome_bonus=10)
    card = make_card(program=program)
    html = client.get(card_url(card)).content.decode()
    assert 'data-testid="points-balance"' not in html
    assert 'role="progressbar"' in html  # a long stamp card is a bar, not 30 dots
    assert "Add to Google Wallet" not in html


WALLETS_OFF = {"LOYALTY_APPLE_PASS_TYPE_ID": None, "LOYALTY_GOOGLE_SERVICE_ACCOUNT_JSON": None}
# The link only needs Apple switched on; the pass itself is built and tested in tests/wallet.
APPLE_ON = {
    **WALLETS_OFF,
    "LOYALTY_APPLE_PASS_TYPE_ID": "pass.example.loyalty",
    "LOYALTY_APPLE_TEAM_ID": "TEAMID1234",
    "LOYALTY_APPLE_CERT_PATH": "/nonexistent/cert.pem",
    "LOYALTY_APPLE_KEY_PATH": "/nonexistent/key.pem",
    "LOYALTY_APPLE_WWDR_CERT_PATH": "/nonexistent/wwdr.pem",
}


def test_wallet_buttons_are_absent_when_wallets_are_off(client, card):
    with override_settings(**WALLETS_OFF):
        html = client.get(card_url(card)).content.decode()
    assert "Add to Google Wallet" not in html
    assert "Add to Apple Wallet" not in html


def test_apple_wallet_button_when_enabled(client, card):
    with override_settings(**APPLE_ON):
        response = client.get(card_url(card))
    assert response.status_code == 200
    html = response.content.decode()
    pass_url = reverse("wallet:apple-card-pass", args=[card.qr_code_data])
    assert "Add to Apple Wallet" in html
    assert f'href="{pass_url}"' in html
    assert "Add to Google Wallet" not in html


def test_no_wallet_buttons_on_a_deactivated_card(client, card):
    services.set_cards_active(card_ids=[card.pk], active=False)
    with override_settings(**APPLE_ON):
        html = client.get(card_url(card)).content.decode()
    assert "Add to Apple Wallet" not in html


def test_birthday_week_greeting(client, program):
    today = timezone.localdate()
    try:
        birth_date = today.replace(year=today.year - 30)
    except ValueError:
        birth_date = today.replace(year=today.year - 30, day=28)
    card = make_card(program=program, customer=CustomerFactory(merchant=program.merchant, birth_date=birth_date))
    assert "Happy birthday" in client.get(card_url(card)).content.decode()


def test_card_page_in_french(client, card):
    html = client.get(card_url(card), HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Bonus de bienvenue" in html
    assert "Numéro de carte" in html


def test_card_page_query_count_is_fixed(client, card, program, store, cashier, django_assert_num_queries):
    RewardFactory(program=program, points_cost=30)
    for _ in range(3):
        services.add_stamp(card=card, store=store, staff_user=cashier.user)
    # The card with its customer, merchant, program and store; the rewards; the activity.
    with override_settings(**WALLETS_OFF):
        with django_assert_num_queries(3):
            assert client.get(card_url(card)).status_code == 200


# --- language ------------------------------------------------------------------------------------


def test_card_page_language_switch_is_remembered_for_the_customers_emails(client, card):
    page = client.get(card_url(card)).content.decode()
    switch_url = f"/card/{card.qr_code_data}/language/"
    assert f'action="{switch_url}"' in page
    response = client.post(switch_url, {"language": "fr", "next": card_url(card)})
    assert response.status_code == 302 and response["Location"] == card_url(card)
    card.customer.refresh_from_db()
    assert card.customer.preferred_language == "fr"
    assert '<html lang="fr">' in client.get(card_url(card)).content.decode()


def test_card_page_language_switch_takes_a_regional_variant_as_its_language(client, card):
    response = client.post(f"/card/{card.qr_code_data}/language/", {"language": "fr-CA", "next": card_url(card)})
    assert response.status_code == 302
    card.customer.refresh_from_db()
    assert card.customer.preferred_language == "fr"


@pytest.mark.parametrize("language", ["", "xx", "fr-FR' OR 1=1"])
def test_card_page_language_switch_ignores_unknown_languages(client, card, language):
    response = client.post(f"/card/{card.qr_code_data}/language/", {"language": language, "next": card_url(card)})
    assert response.status_code == 302
    card.customer.refresh_from_db()
    assert card.customer.preferred_language == "en"


def test_card_page_language_switch_needs_a_live_card_and_a_post(client, card):
    url = f"/card/{card.qr_code_data}/language/"
    assert client.get(url).status_code == 405
    assert client.post("/card/not-a-card/language/", {"language": "fr"}).status_code == 404
    services.soft_delete_cards(card_ids=[card.pk])
    assert client.post(url, {"language": "fr"}).status_code == 404
    card.customer.refresh_from_db()
    assert card.customer.preferred_language == "en"
