"""The staff API speaks the staff member's language (Accept-Language): English and French."""

import pytest

from loyalty import services
from tests.loyalty.test_api_cards import client_for, error_of
from tests.loyalty.test_api_mutations import post

pytestmark = pytest.mark.django_db


@pytest.fixture
def card(card):
    card.program.stamp_cooldown_minutes = 10
    card.program.save(update_fields=["stamp_cooldown_minutes"])
    services.add_stamp(card=card, store=None, staff_user=None)
    return card


def test_refusals_in_french(cashier, card):
    api = client_for(cashier)
    error = error_of(post(api, card, "stamp", HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9"), 409, "cooldown_active")
    assert error["message"] == "Cette carte vient d'être tamponnée ; le prochain tampon est possible dans 10 minutes."
    error = error_of(
        post(api, card, "redeem-points", {"points": 5}, HTTP_ACCEPT_LANGUAGE="fr"), 409, "insufficient_points"
    )
    assert error["message"] == "La carte a 0 points ; il en faut 5."
    error = error_of(
        api.get("/api/v1/cards/lookup/", {"q": "nobody@example.com"}, HTTP_ACCEPT_LANGUAGE="fr"), 404, "card_not_found"
    )
    assert error["message"] == "Aucune carte ne correspond à ce qui a été scanné ou saisi."


def test_refusals_in_english_by_default(cashier, card):
    error = error_of(post(client_for(cashier), card, "stamp", HTTP_ACCEPT_LANGUAGE="en"), 409, "cooldown_active")
    assert error["message"] == "This card was stamped moments ago; the next stamp is possible in 10 minutes."


def test_a_wrong_pin_in_french(cashier, card):
    card.program.require_staff_pin = True
    card.program.save(update_fields=["require_staff_pin"])
    api = client_for(cashier)
    error = error_of(
        post(api, card, "earn-points", {"purchase_amount": "5.00", "staff_pin": "9999"}, HTTP_ACCEPT_LANGUAGE="fr"),
        403,
        "invalid_pin",
    )
    assert error["message"] == "Code PIN erroné. Encore 4 essais avant le blocage."
