"""The staff admin: nobody unlocks their own PIN; signing devices out; a password change or a
deactivation signs every device out."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from merchants import tokens
from merchants.models import StaffMember, StaffToken
from tests.factories import StaffMemberFactory

CHANGELIST = "admin:merchants_staffmember_changelist"


@pytest.fixture
def owner(store):
    return StaffMemberFactory(merchant=store.merchant, stores=[store], role="owner")


def run_action(client, action, members):
    response = client.post(
        reverse(CHANGELIST), {"action": action, "_selected_action": [member.pk for member in members]}, follow=True
    )
    assert response.status_code == 200
    return [(message.level_tag, str(message)) for message in get_messages(response.wsgi_request)]


def change_staff(client, member, **changes):
    data = {
        "username": member.user.username,
        "email": member.user.email,
        "password": "",
        "merchant": member.merchant_id,
        "role": member.role,
        "stores": [store.pk for store in member.stores.all()],
        "pin": "",
        **changes,
    }
    return client.post(reverse("admin:merchants_staffmember_change", args=[member.pk]), data)


def test_admin_action_refuses_to_unlock_ones_own_pin(client, manager, cashier):
    StaffMember.objects.filter(pk__in=[manager.pk, cashier.pk]).update(pin_failed_attempts=4)
    client.force_login(manager.user)
    messages = run_action(client, "unlock_pins", [manager, cashier])
    assert ("error", f"{manager}: You cannot unlock your own PIN; ask another manager or the owner.") in messages
    assert ("success", "Unlocked 1 PIN.") in messages
    manager.refresh_from_db()
    cashier.refresh_from_db()
    assert manager.pin_failed_attempts == 4 and cashier.pin_failed_attempts == 0


def test_admin_action_signs_out_every_device(client, manager, cashier):
    keys = [tokens.issue_token(user=cashier.user)[0] for _ in range(2)]
    tokens.issue_token(user=manager.user)
    client.force_login(manager.user)
    assert ("success", "Signed out 2 devices.") in run_action(client, "sign_out_devices", [cashier])
    assert not tokens.live_tokens(user=cashier.user)
    assert len(tokens.live_tokens(user=manager.user)) == 1
    assert all(StaffToken.objects.get(key_hash=tokens.key_hash(key)).revoked_at for key in keys)


def test_password_change_in_the_admin_signs_devices_out(client, owner, cashier):
    tokens.issue_token(user=cashier.user)
    client.force_login(owner.user)
    response = change_staff(client, cashier, password="a-brand-new-phrase-42")
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    assert StaffToken.objects.get(user=cashier.user).revoked_at is not None


def test_saving_without_a_new_password_keeps_devices(client, owner, cashier):
    tokens.issue_token(user=cashier.user)
    client.force_login(owner.user)
    assert change_staff(client, cashier, email="c@example.com").status_code == 302
    assert len(tokens.live_tokens(user=cashier.user)) == 1


def test_deactivating_in_the_admin_stops_every_sign_in(client, owner, cashier):
    tokens.issue_token(user=cashier.user)
    client.force_login(owner.user)
    assert change_staff(client, cashier, deactivated="on").status_code == 302
    cashier.user.refresh_from_db()
    assert not cashier.user.is_active
    assert StaffToken.objects.get(user=cashier.user).revoked_at is not None
    client.logout()
    response = client.post("/pos/login/", {"username": cashier.user.username, "password": "pass-word-1234"})
    assert response.status_code == 200 and "_auth_user_id" not in client.session
    # And back.
    client.force_login(owner.user)
    assert change_staff(client, cashier).status_code == 302
    cashier.user.refresh_from_db()
    assert cashier.user.is_active


def test_an_owner_cannot_deactivate_themselves(client, owner):
    client.force_login(owner.user)
    response = change_staff(client, owner, deactivated="on")
    assert response.status_code == 200
    assert "You cannot deactivate yourself." in response.content.decode()
    owner.user.refresh_from_db()
    assert owner.user.is_active
