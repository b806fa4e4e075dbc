"""Editing a customer: the name reaches the wallet passes, a birth date change records who and when."""

import datetime

import pytest

from core.errors import LoyaltyError
from customers.services import update_customer
from tests.factories import CustomerFactory, UserFactory
from wallet.models import WalletUpdate


def details(customer, **changes):
    values = {
        "first_name": customer.first_name,
        "last_name": customer.last_name,
        "email": customer.email,
        "phone": customer.phone,
        "birth_date": customer.birth_date,
        "marketing_opt_in": customer.marketing_opt_in,
        "preferred_language": customer.preferred_language,
    }
    return {**values, **changes}


@pytest.fixture
def customer(card):
    WalletUpdate.objects.all().delete()
    return card.customer


def pending():
    return set(WalletUpdate.objects.filter(status="pending").values_list("card_id", flat=True))


def test_rename_schedules_the_customers_live_cards_after_commit(
    wallet_on, customer, card, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        changed = update_customer(customer=customer, changed_by=None, **details(customer, last_name=" Hopper "))
    assert changed == ["last_name"]
    assert len(callbacks) == 1
    customer.refresh_from_db()
    assert customer.last_name == "Hopper"
    assert pending() == {card.pk}


def test_consents_language_phone_and_email_do_not_touch_the_pass(customer):
    changed = update_customer(
        customer=customer,
        changed_by=None,
        **details(
            customer, marketing_opt_in=True, preferred_language="fr", phone="+33611111111", email=" New@Example.com "
        ),
    )
    assert set(changed) == {"marketing_opt_in", "preferred_language", "phone", "email"}
    customer.refresh_from_db()
    assert customer.email == "new@example.com"
    assert pending() == set()
    assert update_customer(customer=customer, changed_by=None, **details(customer)) == []


def test_birth_date_change_records_who_and_when(customer):
    admin_user = UserFactory()
    new_date = datetime.date(1985, 12, 1)
    update_customer(customer=customer, changed_by=admin_user, **details(customer, birth_date=new_date))
    customer.refresh_from_db()
    assert customer.birth_date == new_date
    assert customer.birth_date_changed_by == admin_user
    assert customer.birth_date_changed_at is not None
    first_change = customer.birth_date_changed_at
    update_customer(customer=customer, changed_by=None, **details(customer, first_name="Ada"))
    customer.refresh_from_db()
    assert customer.birth_date_changed_at == first_change  # only a new birth date moves it


def test_an_email_taken_at_the_merchant_is_a_domain_error(customer):
    other = CustomerFactory(merchant=customer.merchant, email="taken@example.com")
    with pytest.raises(LoyaltyError) as refused:
        update_customer(
            customer=customer, changed_by=None, **details(customer, email="TAKEN@example.com", last_name="X")
        )
    assert refused.value.code == "email_taken"
    customer.refresh_from_db()
    assert customer.last_name != "X" and other.email == "taken@example.com"
    assert pending() == set()
