"""The program's terms page, linked from the join form's checkbox."""

from decimal import Decimal

import pytest

from loyalty.models import LoyaltyProgram
from tests.factories import MerchantFactory


def terms_of(client, merchant, **headers) -> str:
    response = client.get(f"/join/{merchant.slug}/terms/", **headers)
    assert response.status_code == 200
    return response.content.decode()


def test_join_form_links_to_the_terms(client, join_url, merchant):
    html = client.get(join_url).content.decode()
    assert f'href="/join/{merchant.slug}/terms/"' in html


def test_terms_state_the_rules_of_the_program(client, merchant, program):
    program.points_per_euro = Decimal("1.50")
    program.min_purchase = Decimal("5.00")
    program.points_expiry_days = 365
    program.stamp_cooldown_minutes = 10
    program.max_stamps_per_day = 3
    program.save()
    html = terms_of(client, merchant)
    assert "8 stamps give you: A free coffee" in html
    assert "at most one stamp every 10 minutes" in html
    assert "at most 3 stamps a day" in html
    assert "Purchases earn points: 1.50 per euro spent" in html
    assert "under €5.00 earn no points" in html
    assert "50 welcome points, once per person" in html
    assert "no activity (purchase, stamp or reward) for 365 days" in html
    assert "birth date" in html


def test_terms_of_a_stamps_only_program_say_nothing_about_points(client, merchant, program):
    program.kind = LoyaltyProgram.Kind.STAMPS
    program.save()
    html = terms_of(client, merchant)
    assert "stamps give you" in html
    assert "per euro spent" not in html and "expire" not in html


def test_points_that_never_expire_are_said_so(client, merchant, program):
    program.points_expiry_days = None
    program.save()
    assert "Points do not expire." in terms_of(client, merchant)


def test_merchant_terms_and_contact_are_shown_escaped(client, merchant):
    merchant.contact_email = "privacy@demo.example"
    merchant.terms = "Rule one.\n\n<script>alert(1)</script>"
    merchant.save()
    html = terms_of(client, merchant)
    assert "write to privacy@demo.example" in html
    assert "<p>Rule one.</p>" in html
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html


def test_terms_in_french(client, merchant):
    html = terms_of(client, merchant, HTTP_ACCEPT_LANGUAGE="fr")
    assert '<html lang="fr">' in html
    assert "Vos données personnelles" in html


def test_terms_of_a_merchant_without_program_and_unknown_merchant(client, db):
    merchant = MerchantFactory()
    assert "no active loyalty program" in terms_of(client, merchant)
    assert client.get("/join/no-such-merchant/terms/").status_code == 404


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_terms_page_is_read_only(client, merchant, method):
    assert getattr(client, method)(f"/join/{merchant.slug}/terms/").status_code == 405
