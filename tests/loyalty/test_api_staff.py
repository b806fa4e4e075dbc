"""Staff API: who am I, the team list, PIN verify with lockout, PIN unlock by a manager."""

import pytest
from rest_framework.test import APIClient

from merchants.models import StaffMember
from tests.factories import StaffMemberFactory, StoreFactory
from tests.loyalty.test_api_cards import client_for, error_of


def verify(client, pin):
    return client.post("/api/v1/staff/pin/verify/", {"pin": pin}, format="json")


def unlock(client, staff):
    return client.post(f"/api/v1/staff/{staff.pk}/pin/unlock/", format="json")


def test_me(cashier, store):
    data = client_for(cashier).get("/api/v1/staff/me/").json()
    assert data["id"] == cashier.pk and data["role"] == "cashier" and data["is_manager"] is False
    assert data["stores"] == [{"code": "main", "name": store.name, "earns_loyalty": True, "redeems_loyalty": True}]
    assert data["has_pin"] is True and data["pin_locked_until"] is None


def test_me_needs_authentication(db):
    error_of(APIClient().get("/api/v1/staff/me/"), 401, "not_authenticated")


def test_team_list_for_managers_only(manager, cashier):
    StaffMemberFactory()  # another merchant's
    data = client_for(manager).get("/api/v1/staff/").json()
    assert {row["id"] for row in data} == {manager.pk, cashier.pk}
    error_of(client_for(cashier).get("/api/v1/staff/"), 403, "permission_denied")


def test_pin_verify(cashier):
    response = verify(client_for(cashier), "1234")
    assert response.status_code == 200 and response.json() == {"verified": True}


def test_pin_verify_errors(cashier):
    api = client_for(cashier)
    error = error_of(verify(api, "9999"), 403, "invalid_pin")
    assert error["details"] == {"attempts_left": 4}
    assert "4 attempts left" in error["message"]
    error_of(api.post("/api/v1/staff/pin/verify/", {}, format="json"), 400, "invalid_input")
    error_of(verify(api, ""), 400, "invalid_input")
    error_of(APIClient().post("/api/v1/staff/pin/verify/", {"pin": "1234"}, format="json"), 401, "not_authenticated")


def test_pin_verify_without_a_pin_set(cashier):
    StaffMember.objects.filter(pk=cashier.pk).update(pin_hash="")
    error_of(verify(client_for(cashier), "1234"), 403, "pin_not_set")


def test_right_pin_resets_the_failure_count(cashier):
    api = client_for(cashier)
    for _ in range(4):
        error_of(verify(api, "0000"), 403, "invalid_pin")
    assert verify(api, "1234").status_code == 200
    assert error_of(verify(api, "0000"), 403, "invalid_pin")["details"] == {"attempts_left": 4}


def test_lockout_after_five_failures_then_manager_unlocks(cashier, manager):
    api = client_for(cashier)
    for left in (4, 3, 2, 1):
        assert error_of(verify(api, "0000"), 403, "invalid_pin")["details"] == {"attempts_left": left}
    error = error_of(verify(api, "0000"), 423, "pin_locked")
    assert "locked_until" in error["details"] and "manager" in error["message"]
    # The right PIN does not help while locked.
    error_of(verify(api, "1234"), 423, "pin_locked")
    assert api.get("/api/v1/staff/me/").json()["pin_locked_until"] is not None

    # A cashier cannot unlock (not even themself).
    error_of(unlock(api, cashier), 403, "permission_denied")
    error_of(verify(api, "1234"), 423, "pin_locked")

    response = unlock(client_for(manager), cashier)
    assert response.status_code == 200
    body = response.json()
    assert body["unlocked"] is True and body["staff"]["id"] == cashier.pk and body["staff"]["pin_locked_until"] is None
    assert verify(api, "1234").status_code == 200


def test_owner_unlocks_too(cashier, store):
    owner = StaffMemberFactory(merchant=cashier.merchant, stores=[store], role="owner")
    StaffMember.objects.filter(pk=cashier.pk).update(pin_failed_attempts=3)
    assert unlock(client_for(owner), cashier).status_code == 200
    cashier.refresh_from_db()
    assert cashier.pin_failed_attempts == 0


def test_nobody_unlocks_their_own_pin(manager, store):
    StaffMember.objects.filter(pk=manager.pk).update(pin_failed_attempts=4)
    error = error_of(unlock(client_for(manager), manager), 403, "cannot_unlock_own_pin")
    assert "your own PIN" in error["message"]
    manager.refresh_from_db()
    assert manager.pin_failed_attempts == 4
    owner = StaffMemberFactory(merchant=manager.merchant, stores=[store], role="owner")
    error_of(unlock(client_for(owner), owner), 403, "cannot_unlock_own_pin")
    assert unlock(client_for(owner), manager).status_code == 200  # a colleague can


def test_unlock_another_merchants_staff_is_404(manager):
    stranger = StaffMemberFactory(stores=[StoreFactory()])
    error_of(unlock(client_for(manager), stranger), 404, "staff_not_found")
    error_of(client_for(manager).post("/api/v1/staff/abc/pin/unlock/", format="json"), 404, "staff_not_found")


def test_unlock_needs_authentication(cashier):
    error_of(unlock(APIClient(), cashier), 401, "not_authenticated")


@pytest.mark.parametrize("pin", ["12a4", "1" * 40])
def test_pin_verify_odd_input(cashier, pin):
    response = verify(client_for(cashier), pin)
    assert response.status_code in (400, 403)
    assert "error" in response.json()
