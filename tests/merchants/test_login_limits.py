"""Sign-in limits: one budget per normalised username and per client address, on the admin login,
the POS login and the API token endpoint alike; the right password is refused while limited."""

import logging

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from merchants import login_limits
from merchants.models import StaffToken
from tests.factories import StaffMemberFactory
from tests.loyalty.test_api_cards import error_of

PASSWORD = "pass-word-1234"


def fullwidth(text: str) -> str:
    """ASCII letters and digits as their fullwidth forms (NFKC maps them back)."""
    return "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalnum() else c for c in text)


def pos_login(client, username, password, **meta):
    return client.post("/pos/login/", {"username": username, "password": password}, **meta)


def admin_login(client, username, password, **meta):
    return client.post("/admin/login/", {"username": username, "password": password, "next": "/admin/"}, **meta)


def token(username, password, **meta):
    return APIClient().post("/api/v1/auth/token/", {"username": username, "password": password}, format="json", **meta)


@pytest.fixture
def limits(settings):
    def set_limits(per_username="10/15m", per_address="30/15m"):
        settings.LOYALTY_LOGIN_LIMIT_PER_USERNAME = per_username
        settings.LOYALTY_LOGIN_LIMIT_PER_ADDRESS = per_address

    return set_limits


def test_username_key_is_django_normalisation_plus_case_folding():
    assert login_limits.username_key(" ｍａｎａｇｅｒ ") == "manager"
    assert login_limits.username_key("MaNaGeR") == "manager"
    assert login_limits.username_key("Straße") == login_limits.username_key("STRASSE")
    assert login_limits.username_key("ｍａｎａｇｅｒ") == get_user_model().normalize_username("ｍａｎａｇｅｒ")
    assert login_limits.username_key(None) == ""


def test_fullwidth_username_is_the_same_account_on_every_surface(client, manager):
    # Django normalises (NFKC) before authenticating: the fullwidth name signs in as the manager...
    name = fullwidth(manager.user.username)
    assert pos_login(client, name, PASSWORD).status_code == 302
    assert admin_login(client, name, PASSWORD).status_code == 302
    assert token(name, PASSWORD).status_code == 200


def test_admin_pos_and_token_share_one_budget_per_normalised_username(client, manager, limits):
    # ...so its failures count against the manager's one budget, whichever surface and spelling.
    limits(per_username="3/15m")
    name = manager.user.username
    assert pos_login(client, fullwidth(name), "wrong").status_code == 200
    assert admin_login(client, name.upper(), "wrong").status_code == 200
    error_of(token(fullwidth(name).upper(), "wrong"), 401, "invalid_credentials")

    # The right password is refused everywhere while limited, without being checked.
    response = pos_login(client, name, PASSWORD)
    # Fixed windows (django-ratelimit): the wait is what is left of this one.
    assert response.status_code == 429 and 1 <= int(response["Retry-After"]) <= 15 * 60
    assert "Too many failed sign-ins" in response.content.decode()
    response = admin_login(client, name, PASSWORD)
    assert response.status_code == 429 and int(response["Retry-After"]) >= 1
    assert "Too many failed sign-ins" in response.content.decode()
    response = token(fullwidth(name), PASSWORD)
    error = error_of(response, 429, "rate_limited")
    assert error["details"]["retry_after_seconds"] == int(response["Retry-After"])
    assert "Try again in" in error["message"]
    assert "_auth_user_id" not in client.session
    assert not StaffToken.objects.filter(user=manager.user).exists()

    # Another person's budget is untouched.
    colleague = StaffMemberFactory(merchant=manager.merchant, role="manager")
    assert admin_login(client, colleague.user.username, PASSWORD).status_code == 302


def test_one_password_across_many_usernames_from_one_address_is_limited(client, cashier, limits):
    limits(per_address="5/15m")
    for index in range(5):
        pos_login(client, f"someone-{index}", "password123", REMOTE_ADDR="203.0.113.7")
    # The address is spent, for every username and surface, the right password included.
    assert pos_login(client, cashier.user.username, PASSWORD, REMOTE_ADDR="203.0.113.7").status_code == 429
    assert admin_login(client, "anyone", "password123", REMOTE_ADDR="203.0.113.7").status_code == 429
    error_of(token(cashier.user.username, PASSWORD, REMOTE_ADDR="203.0.113.7"), 429, "rate_limited")
    # Another address signs in.
    assert token(cashier.user.username, PASSWORD, REMOTE_ADDR="198.51.100.1").status_code == 200


def test_one_username_from_many_addresses_is_limited(cashier, limits):
    limits(per_username="4/15m")
    for index in range(4):
        error_of(token(cashier.user.username, "wrong", REMOTE_ADDR=f"192.0.2.{index + 1}"), 401, "invalid_credentials")
    error_of(token(cashier.user.username, PASSWORD, REMOTE_ADDR="192.0.2.200"), 429, "rate_limited")


def test_successful_sign_ins_cost_nothing(cashier, limits):
    limits(per_username="2/15m", per_address="2/15m")
    for _ in range(5):
        assert token(cashier.user.username, PASSWORD).status_code == 200


def test_behind_a_proxy_the_address_is_the_real_ip_header(settings, cashier, limits):
    limits(per_address="2/15m")
    settings.RATELIMIT_IP_META_KEY = "HTTP_X_REAL_IP"
    for _ in range(2):
        token("nobody", "wrong", REMOTE_ADDR="10.0.0.1", HTTP_X_REAL_IP="203.0.113.9")
    error_of(token(cashier.user.username, PASSWORD, HTTP_X_REAL_IP="203.0.113.9"), 429, "rate_limited")
    # Same proxy, another customer.
    assert (
        token(cashier.user.username, PASSWORD, REMOTE_ADDR="10.0.0.1", HTTP_X_REAL_IP="203.0.113.10").status_code == 200
    )


def test_the_refusal_speaks_the_pages_language(client, manager, limits):
    limits(per_username="1/15m")
    admin_login(client, manager.user.username, "wrong")
    response = admin_login(client, manager.user.username, PASSWORD, HTTP_ACCEPT_LANGUAGE="fr")
    assert response.status_code == 429
    assert "Trop de connexions échouées" in response.content.decode()
    response = pos_login(client, manager.user.username, PASSWORD, HTTP_ACCEPT_LANGUAGE="fr")
    assert response.status_code == 429
    html = response.content.decode()
    assert "Trop de connexions échouées" in html and "Se connecter" in html


def test_cache_down_lets_sign_ins_through_and_logs(settings, client, cashier, limits, caplog):
    limits(per_username="1/15m", per_address="1/15m")
    settings.CACHES = {
        "default": {
            "BACKEND": "core.redis_cache.RedisCache",  # as config/settings.py
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    with caplog.at_level(logging.WARNING, logger="merchants.login_limits"):
        error_of(token(cashier.user.username, "wrong"), 401, "invalid_credentials")
        error_of(token(cashier.user.username, "wrong"), 401, "invalid_credentials")
        assert token(cashier.user.username, PASSWORD).status_code == 200
        assert pos_login(client, cashier.user.username, PASSWORD).status_code == 302
    assert "fail open" in caplog.text
