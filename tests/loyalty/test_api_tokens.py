"""API tokens: a working day's lifetime, hashed at rest, dead after a password change or deactivation;
a device signs itself out, a manager or owner signs a staff member's devices out."""

import datetime
import hashlib

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from merchants import tokens
from merchants.models import StaffToken
from tests.factories import StaffMemberFactory, StoreFactory
from tests.loyalty.test_api_cards import client_for, error_of

PASSWORD = "pass-word-1234"


def sign_in(member, **extra) -> dict:
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": member.user.username, "password": PASSWORD, **extra}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def with_token(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def me(client):
    return client.get("/api/v1/staff/me/")


def test_token_lasts_a_working_day_and_is_stored_hashed(cashier):
    before = timezone.now()
    body = sign_in(cashier, device="Till 2")
    expires_at = datetime.datetime.fromisoformat(body["expires_at"])
    assert datetime.timedelta(hours=10) <= expires_at - before < datetime.timedelta(hours=10, minutes=1)
    row = StaffToken.objects.get(user=cashier.user)
    assert row.key_hash == hashlib.sha256(body["token"].encode()).hexdigest() and body["token"] not in row.key_hash
    assert row.device == "Till 2"
    assert me(with_token(body["token"])).status_code == 200


def test_ttl_is_a_setting_and_the_device_defaults_to_the_user_agent(settings, cashier):
    settings.LOYALTY_API_TOKEN_TTL_HOURS = 2
    response = APIClient().post(
        "/api/v1/auth/token/",
        {"username": cashier.user.username, "password": PASSWORD},
        format="json",
        HTTP_USER_AGENT="TillApp/3.1 (iPad)",
    )
    row = StaffToken.objects.get(user=cashier.user)
    assert row.expires_at - row.created_at == pytest.approx(
        datetime.timedelta(hours=2), abs=datetime.timedelta(seconds=5)
    )
    assert row.device == "TillApp/3.1 (iPad)" and response.status_code == 200


def test_each_sign_in_is_its_own_device(cashier):
    first, second = sign_in(cashier)["token"], sign_in(cashier)["token"]
    assert first != second
    assert me(with_token(first)).status_code == 200 and me(with_token(second)).status_code == 200


def test_expired_token_is_401(cashier):
    key = sign_in(cashier)["token"]
    StaffToken.objects.filter(user=cashier.user).update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    error = error_of(me(with_token(key)), 401, "token_expired")
    assert "Sign in again" in error["message"]


def test_token_after_a_password_change_is_401(cashier):
    key = sign_in(cashier)["token"]
    cashier.user.set_password("another-pass-phrase-99")
    cashier.user.save()
    error = error_of(me(with_token(key)), 401, "token_revoked")
    assert "password" in error["message"]


def test_token_of_a_deactivated_user_is_401(cashier):
    key = sign_in(cashier)["token"]
    cashier.user.is_active = False
    cashier.user.save()
    error_of(me(with_token(key)), 401, "authentication_failed")


def test_device_signs_itself_out(cashier):
    this, other = sign_in(cashier)["token"], sign_in(cashier)["token"]
    response = with_token(this).delete("/api/v1/auth/token/")
    assert response.status_code == 200 and response.json() == {"revoked": 1}
    error = error_of(me(with_token(this)), 401, "token_revoked")
    assert "signed out" in error["message"]
    assert me(with_token(other)).status_code == 200  # the other device stays signed in
    error_of(APIClient().delete("/api/v1/auth/token/"), 401, "not_authenticated")


def test_a_stale_token_header_does_not_stop_signing_in(cashier):
    client = with_token("stale-token")
    response = client.post(
        "/api/v1/auth/token/", {"username": cashier.user.username, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200


def test_manager_lists_and_signs_out_a_cashiers_devices(manager, cashier):
    till, phone = sign_in(cashier, device="Till 1")["token"], sign_in(cashier, device="Phone")["token"]
    api = client_for(manager)
    listed = api.get(f"/api/v1/staff/{cashier.pk}/tokens/").json()
    assert [row["device"] for row in listed] == ["Phone", "Till 1"]
    assert set(listed[0]) == {"id", "device", "created_at", "expires_at", "last_used_at"}
    assert "token" not in str(listed).lower().replace("tokens", "")

    phone_id = listed[0]["id"]
    response = api.post(f"/api/v1/staff/{cashier.pk}/tokens/revoke/", {"token_id": phone_id}, format="json")
    assert response.status_code == 200 and response.json() == {"revoked": 1}
    error_of(me(with_token(phone)), 401, "token_revoked")
    assert me(with_token(till)).status_code == 200

    response = api.post(f"/api/v1/staff/{cashier.pk}/tokens/revoke/", format="json")
    assert response.json() == {"revoked": 1}
    error_of(me(with_token(till)), 401, "token_revoked")
    assert api.get(f"/api/v1/staff/{cashier.pk}/tokens/").json() == []


def test_owner_signs_out_devices_too(cashier, store):
    owner = StaffMemberFactory(merchant=cashier.merchant, stores=[store], role="owner")
    key = sign_in(cashier)["token"]
    assert client_for(owner).post(f"/api/v1/staff/{cashier.pk}/tokens/revoke/", format="json").json() == {"revoked": 1}
    error_of(me(with_token(key)), 401, "token_revoked")


def test_a_cashier_cannot_sign_anyone_out(cashier, manager, store):
    key = sign_in(manager)["token"]
    colleague = StaffMemberFactory(merchant=cashier.merchant, stores=[store])
    api = client_for(cashier)
    error_of(api.post(f"/api/v1/staff/{manager.pk}/tokens/revoke/", format="json"), 403, "permission_denied")
    error_of(api.post(f"/api/v1/staff/{colleague.pk}/tokens/revoke/", format="json"), 403, "permission_denied")
    error_of(api.get(f"/api/v1/staff/{manager.pk}/tokens/"), 403, "permission_denied")
    assert me(with_token(key)).status_code == 200


def test_a_manager_of_another_merchant_gets_404(manager):
    stranger = StaffMemberFactory(stores=[StoreFactory()])
    key = sign_in(stranger)["token"]
    api = client_for(manager)
    error_of(api.post(f"/api/v1/staff/{stranger.pk}/tokens/revoke/", format="json"), 404, "staff_not_found")
    error_of(api.get(f"/api/v1/staff/{stranger.pk}/tokens/"), 404, "staff_not_found")
    assert me(with_token(key)).status_code == 200


def test_revoking_another_persons_token_id_is_404(manager, cashier, store):
    colleague = StaffMemberFactory(merchant=cashier.merchant, stores=[store])
    sign_in(colleague)
    other_id = StaffToken.objects.get(user=colleague.user).pk
    response = client_for(manager).post(
        f"/api/v1/staff/{cashier.pk}/tokens/revoke/", {"token_id": other_id}, format="json"
    )
    error_of(response, 404, "token_not_found")
    assert StaffToken.objects.get(pk=other_id).revoked_at is None


def test_the_list_leaves_out_tokens_that_no_longer_work(manager, cashier):
    sign_in(cashier)
    cashier.user.set_password("another-pass-phrase-99")
    cashier.user.save()
    assert client_for(manager).get(f"/api/v1/staff/{cashier.pk}/tokens/").json() == []


def test_last_used_is_written_at_most_every_few_minutes(cashier, django_assert_num_queries):
    key = sign_in(cashier)["token"]
    client = with_token(key)
    # Token, user, membership and merchant in one query, then /me's stores; no write.
    with django_assert_num_queries(2):
        assert me(client).status_code == 200
    long_ago = timezone.now() - datetime.timedelta(minutes=6)
    StaffToken.objects.filter(user=cashier.user).update(last_used_at=long_ago)
    with django_assert_num_queries(3):  # plus the one UPDATE of last_used_at
        assert me(client).status_code == 200
    assert StaffToken.objects.get(user=cashier.user).last_used_at > long_ago


def test_dead_tokens_are_deleted_a_week_after_they_die(cashier):
    old = timezone.now() - datetime.timedelta(days=8)
    _, expired = tokens.issue_token(user=cashier.user, now=old - datetime.timedelta(hours=10))
    _, revoked = tokens.issue_token(user=cashier.user)
    StaffToken.objects.filter(pk=revoked.pk).update(revoked_at=old)
    _, recent = tokens.issue_token(user=cashier.user)
    tokens.issue_token(user=cashier.user)
    remaining = set(StaffToken.objects.filter(user=cashier.user).values_list("pk", flat=True))
    assert expired.pk not in remaining and revoked.pk not in remaining and recent.pk in remaining
