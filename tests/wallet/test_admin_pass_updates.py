"""What an owner changes in the admin reaches the wallet passes (SPEC, production parity).

Deactivating a card (form or action), renaming a customer, rebranding a program or editing
its rewards each schedule a pass update through the outbox; a change the pass does not show,
or a form that failed, schedules none.
"""

import pytest
from django import forms
from django.urls import reverse

from loyalty.models import Reward
from tests.factories import RewardFactory, StaffMemberFactory
from wallet import delivery
from wallet.google import save_url
from wallet.google.resources import object_id
from wallet.models import WalletUpdate


def pending_card_ids() -> set[int]:
    return set(WalletUpdate.objects.filter(status=WalletUpdate.Status.PENDING).values_list("card_id", flat=True))


def form_data(response) -> dict:
    """What the browser would post back for an admin change form as it was rendered (files left out)."""
    data = {}
    context_forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        context_forms += [inline.formset.management_form, *inline.formset.forms]
    for form in context_forms:
        for name, field in form.fields.items():
            value = form[name].value()
            key = form.add_prefix(name)
            if isinstance(field, forms.FileField) or value is None:
                continue
            if isinstance(field, forms.BooleanField):
                if value:
                    data[key] = "on"
            elif isinstance(value, (list, tuple)):
                data[key] = [str(v) for v in value]
            else:
                data[key] = str(value)
    return data


def change_url(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


@pytest.fixture
def owner(card):
    return StaffMemberFactory(merchant=card.merchant, role="owner")


@pytest.fixture
def admin_client(client, owner):
    client.force_login(owner.user)
    return client


@pytest.fixture
def quiet(card):
    """The issue-time update delivered: the outbox starts empty."""
    delivery.deliver_pending(card.pk)
    assert pending_card_ids() == set()
    return card


@pytest.fixture
def in_google(google_wallet, card):
    """The card saved to Google Wallet (its object exists at the fake), the outbox empty."""
    save_url(card)
    assert delivery.deliver_pending(card.pk)
    google_wallet.reset()
    card.refresh_from_db()
    return card


def delivered_google_state(google, card) -> str:
    assert delivery.deliver_pending(card.pk) is True
    patches = google.api_requests("PATCH", "loyaltyObject")
    assert [r.path for r in patches] == [f"loyaltyObject/{object_id(card)}"]
    return patches[0].body["state"]


def test_deactivating_in_the_card_form_updates_the_pass(admin_client, in_google, google_wallet):
    card = in_google
    data = form_data(admin_client.get(change_url(card)))
    assert data["is_active"] == "on"
    del data["is_active"]
    response = admin_client.post(change_url(card), data)
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    card.refresh_from_db()
    assert card.is_active is False
    assert pending_card_ids() == {card.pk}
    assert delivered_google_state(google_wallet, card) == "INACTIVE"

    # And back on: the pass is active again.
    google_wallet.reset()
    data["is_active"] = "on"
    assert admin_client.post(change_url(card), data).status_code == 302
    assert pending_card_ids() == {card.pk}
    assert delivered_google_state(google_wallet, card) == "ACTIVE"


def test_deactivate_action_updates_the_pass(admin_client, in_google, google_wallet):
    card = in_google
    changelist = reverse("admin:loyalty_loyaltycard_changelist")
    response = admin_client.post(changelist, {"action": "deactivate_cards", "_selected_action": [card.pk]})
    assert response.status_code == 302
    card.refresh_from_db()
    assert card.is_active is False
    assert pending_card_ids() == {card.pk}
    assert delivered_google_state(google_wallet, card) == "INACTIVE"


def test_changing_only_the_enrolled_store_does_not_touch_the_pass(admin_client, quiet, store):
    card = quiet
    other_store = type(store).objects.create(merchant=card.merchant, code="second", name="Second")
    data = form_data(admin_client.get(change_url(card)))
    data["enrolled_at_store"] = str(other_store.pk)
    assert admin_client.post(change_url(card), data).status_code == 302
    card.refresh_from_db()
    assert card.enrolled_at_store == other_store and card.is_active
    assert pending_card_ids() == set()


def test_customer_rename_updates_the_pass(admin_client, in_google, google_wallet):
    card = in_google
    customer = card.customer
    data = form_data(admin_client.get(change_url(customer)))
    data["first_name"] = "Grace"
    response = admin_client.post(change_url(customer), data)
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    assert pending_card_ids() == {card.pk}
    assert delivery.deliver_pending(card.pk)
    patch = google_wallet.api_requests("PATCH", "loyaltyObject")[-1]
    assert patch.body["accountName"].startswith("Grace ")


def test_a_change_the_pass_does_not_show_updates_nothing(admin_client, quiet):
    customer = quiet.customer
    data = form_data(admin_client.get(change_url(customer)))
    data["marketing_opt_in"] = "on"
    data["phone"] = "+33600000001"
    assert admin_client.post(change_url(customer), data).status_code == 302
    customer.refresh_from_db()
    assert customer.marketing_opt_in and customer.phone == "+33600000001"
    assert pending_card_ids() == set()

    program = quiet.program
    data = form_data(admin_client.get(change_url(program)))
    data["stamp_cooldown_minutes"] = "30"
    assert admin_client.post(change_url(program), data).status_code == 302
    program.refresh_from_db()
    assert program.stamp_cooldown_minutes == 30
    assert pending_card_ids() == set()


def test_birth_date_change_records_who_and_when(admin_client, owner, quiet):
    customer = quiet.customer
    data = form_data(admin_client.get(change_url(customer)))
    data["birth_date"] = "1991-02-03"
    assert admin_client.post(change_url(customer), data).status_code == 302
    customer.refresh_from_db()
    assert str(customer.birth_date) == "1991-02-03"
    assert customer.birth_date_changed_by == owner.user
    assert customer.birth_date_changed_at is not None
    assert pending_card_ids() == set()  # the birth date is not on the pass


def test_program_branding_updates_every_live_card_and_the_class(admin_client, in_google, google_wallet):
    card = in_google
    program = card.program
    data = form_data(admin_client.get(change_url(program)))
    data["background_color"] = "#aa0000"
    response = admin_client.post(change_url(program), data)
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    assert pending_card_ids() == {card.pk}
    assert delivery.deliver_pending(card.pk)
    patched_class = google_wallet.api_requests("PATCH", "loyaltyClass")
    assert patched_class and patched_class[-1].body["hexBackgroundColor"].lower() == "#aa0000"


def test_reward_inline_and_reward_admin_update_the_passes(admin_client, quiet):
    card = quiet
    program = card.program
    data = form_data(admin_client.get(change_url(program)))
    data.update({"rewards-0-name": "Free muffin", "rewards-0-points_cost": "40", "rewards-0-is_active": "on"})
    response = admin_client.post(change_url(program), data)
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    assert Reward.objects.filter(program=program, name="Free muffin").exists()
    assert pending_card_ids() == {card.pk}

    delivery.deliver_pending(card.pk)
    reward = RewardFactory(program=program)
    data = form_data(admin_client.get(change_url(reward)))
    data["points_cost"] = "75"
    assert admin_client.post(change_url(reward), data).status_code == 302
    assert pending_card_ids() == {card.pk}


def test_a_failed_form_updates_nothing(admin_client, quiet):
    customer = quiet.customer
    data = form_data(admin_client.get(change_url(customer)))
    data.update({"first_name": "Grace", "email": "not-an-email"})
    response = admin_client.post(change_url(customer), data)
    assert response.status_code == 200 and response.context["adminform"].form.errors
    customer.refresh_from_db()
    assert customer.first_name != "Grace"

    program = quiet.program
    data = form_data(admin_client.get(change_url(program)))
    data.update({"name": "Renamed", "stamps_target": "0"})
    response = admin_client.post(change_url(program), data)
    assert response.status_code == 200 and response.context["adminform"].form.errors
    program.refresh_from_db()
    assert program.name != "Renamed"

    card = quiet
    data = form_data(admin_client.get(change_url(card)))
    del data["is_active"]
    data["enrolled_at_store"] = "999999"
    assert admin_client.post(change_url(card), data).status_code == 200
    card.refresh_from_db()
    assert card.is_active
    assert pending_card_ids() == set()


def test_a_deleted_card_cannot_be_reactivated_from_its_form(admin_client, quiet):
    card = quiet
    admin_client.post(
        reverse("admin:loyalty_loyaltycard_changelist"), {"action": "soft_delete_cards", "_selected_action": [card.pk]}
    )
    delivery.deliver_pending(card.pk)
    response = admin_client.get(change_url(card))
    assert "is_active" not in response.context["adminform"].form.fields
    data = form_data(response)
    data["is_active"] = "on"
    assert admin_client.post(change_url(card), data).status_code == 302
    card.refresh_from_db()
    assert card.is_active is False
    assert pending_card_ids() == set()


def test_merchant_rename_updates_its_passes(admin_client, quiet):
    merchant = quiet.merchant
    data = form_data(admin_client.get(change_url(merchant)))
    data["name"] = "Renamed Coffee"
    response = admin_client.post(change_url(merchant), data)
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    merchant.refresh_from_db()
    assert merchant.name == "Renamed Coffee"
    assert pending_card_ids() == {quiet.pk}
