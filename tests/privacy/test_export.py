"""Everything kept about a customer, as JSON: the API for managers, the card page for the customer."""

import json

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from customers.models import Customer
from customers.privacy import EXPORTED, NOT_EXPORTED, NOT_EXPORTED_MODELS, export_customer
from loyalty import services
from loyalty.models import ExpiryReminder, LoyaltyCard, LoyaltyTransaction
from notifications.services import queue_email
from tests.factories import CustomerFactory, StaffMemberFactory, make_card
from wallet.models import AppleDeviceRegistration


def concrete_fields(model) -> set[str]:
    return {field.name for field in model._meta.concrete_fields}


@pytest.mark.parametrize("model", list(EXPORTED), ids=lambda model: model.__name__)
def test_every_field_is_exported_or_said_not_personal(model):
    """A new field on a model holding customer data fails here until it is exported or explained."""
    covered = set(EXPORTED[model]) | set(NOT_EXPORTED.get(model, {}))
    missing = concrete_fields(model) - covered
    assert not missing, (
        f"{model.__name__}: export {sorted(missing)} in customers/privacy.py or list them in NOT_EXPORTED"
    )
    unknown = covered - concrete_fields(model)
    assert not unknown, f"{model.__name__}: {sorted(unknown)} are not fields any more"


def test_every_model_pointing_at_a_customer_or_card_is_exported_or_explained():
    labels = {model._meta.label for model in EXPORTED}
    seen = set()
    for owner in (Customer, LoyaltyCard, LoyaltyTransaction):
        for relation in owner._meta.related_objects:
            seen.add(relation.related_model._meta.label)
    missing = seen - labels - set(NOT_EXPORTED_MODELS)
    assert not missing, f"export {sorted(missing)} in customers/privacy.py or list them in NOT_EXPORTED_MODELS"


@pytest.fixture
def member(shop):
    customer = CustomerFactory(merchant=shop["merchant"], email="ada@example.com", phone="+33611111111")
    card = make_card(program=shop["program"], store=shop["store"], customer=customer)
    services.earn_points(card=card, store=shop["store"], staff_user=shop["cashier"].user, purchase_amount="12.00")
    AppleDeviceRegistration.objects.create(device_library_identifier="device-1", card=card, push_token="ab" * 32)
    ExpiryReminder.objects.create(card=card, expires_on="2030-01-01", points=62)
    queue_email(
        merchant_id=shop["merchant"].pk,
        customer_id=customer.pk,
        to_address=customer.email,
        subject="Welcome",
        body_text="Hello Ada",
        kind="card_welcome",
    )
    card.refresh_from_db()
    return customer, card


def test_the_export_holds_every_exported_field_with_its_value(member):
    customer, card = member
    document = export_customer(customer)
    assert set(document) == {"format", "exported_at", "merchant", "customer", "consents", "cards", "emails", "erasures"}
    assert document["customer"]["email"] == "ada@example.com"
    assert document["customer"]["phone"] == "+33611111111"
    assert document["customer"]["birth_date"] == "1990-05-17"
    assert document["consents"] == {
        "terms_accepted_at": None,
        "marketing_opt_in": False,
        "email_opt_out": False,
    }
    (exported_card,) = document["cards"]
    assert exported_card["card_number"] == card.card_number
    assert exported_card["points_balance"] == 62
    assert exported_card["enrolled_at_store"] == "Main street"
    assert exported_card["program"] == "Club"
    assert [row["type"] for row in exported_card["ledger"]] == ["welcome_bonus", "points_earn"]
    assert exported_card["ledger"][1]["purchase_amount"] == "12.00"
    assert exported_card["expiry_reminders"][0]["expires_on"] == "2030-01-01"
    assert exported_card["wallet"]["apple_device_registrations"][0]["device_library_identifier"] == "device-1"
    assert (
        document["emails"][0]["to_address"] == "ada@example.com" and document["emails"][0]["body_text"] == "Hello Ada"
    )
    # Every field the lists promise is really in the document.
    customer_keys = set(document["customer"]) | set(document["consents"])
    assert customer_keys == set(EXPORTED[Customer])
    assert set(exported_card) - {"ledger", "expiry_reminders", "wallet"} == set(EXPORTED[LoyaltyCard])
    assert set(exported_card["ledger"][0]) == set(EXPORTED[LoyaltyTransaction])
    assert "apple_auth_token" not in json.dumps(document)
    json.dumps(document)  # plain JSON


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_owners_and_managers_download_the_export(shop, member):
    customer, _ = member
    url = f"/api/v1/customers/{customer.pk}/export/"
    for role in ("owner", "manager"):
        response = api(shop[role].user).get(url)
        assert response.status_code == 200
        assert response.json()["customer"]["email"] == "ada@example.com"
        assert 'attachment; filename="customer-' in response["Content-Disposition"]
    response = api(shop["cashier"].user).get(url)
    assert response.status_code == 403 and response.json()["error"]["code"] == "permission_denied"
    assert APIClient().get(url).status_code == 401


def test_another_merchants_customer_is_a_404(shop, member):
    customer, _ = member
    outsider = StaffMemberFactory(role="owner")
    response = api(outsider.user).get(f"/api/v1/customers/{customer.pk}/export/")
    assert response.status_code == 404 and response.json()["error"]["code"] == "customer_not_found"
    assert api(shop["owner"].user).get("/api/v1/customers/999999/export/").status_code == 404
    assert api(shop["owner"].user).get("/api/v1/customers/abc/export/").status_code == 404


def test_the_customer_downloads_the_same_from_the_card_page(client, member):
    customer, card = member
    page = client.get(f"/card/{card.qr_code_data}/")
    url = reverse("customers:my-data", args=[card.qr_code_data])
    assert f'href="{url}"' in page.content.decode()
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response["Content-Disposition"].startswith("attachment;")
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    document = json.loads(response.content)
    expected = export_customer(customer)
    document.pop("exported_at"), expected.pop("exported_at")
    assert document == json.loads(json.dumps(expected))
    assert client.get("/card/no-such-card/data/").status_code == 404
    assert client.post(url).status_code == 405
