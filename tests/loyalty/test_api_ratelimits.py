"""Rate limits per staff user and action group, on the shared cache; fail open when it is down."""

import logging
import os

import pytest
from django.core.cache import caches

from loyalty.models import LoyaltyTransaction
from tests.factories import StaffMemberFactory
from tests.loyalty.test_api_cards import client_for, error_of

Type = LoyaltyTransaction.Type


def limits(settings, **groups):
    settings.LOYALTY_RATE_LIMITS = {**settings.LOYALTY_RATE_LIMITS, **groups}


def stamp(client, card):
    return client.post(f"/api/v1/cards/{card.card_number}/stamp/", {}, format="json")


def test_stamp_limit_gives_429_in_the_error_shape(settings, cashier, card):
    limits(settings, stamp="2/m")
    api = client_for(cashier)
    assert [stamp(api, card).status_code for _ in range(2)] == [200, 200]
    response = stamp(api, card)
    error = error_of(response, 429, "rate_limited")
    assert 1 <= int(response["Retry-After"]) <= 60
    assert error["details"]["retry_after_seconds"] == int(response["Retry-After"])
    assert "try again" in error["message"]
    assert card.transactions.filter(type=Type.STAMP).count() == 2


def test_limits_are_per_staff_user(settings, cashier, store, card):
    limits(settings, stamp="1/m")
    assert stamp(client_for(cashier), card).status_code == 200
    assert stamp(client_for(cashier), card).status_code == 429
    colleague = StaffMemberFactory(merchant=cashier.merchant, stores=[store])
    assert stamp(client_for(colleague), card).status_code == 200


def test_limits_are_per_action_group(settings, cashier, card):
    limits(settings, stamp="1/m", earn="1/m", redeem="1/m")
    api = client_for(cashier)
    base = f"/api/v1/cards/{card.card_number}"
    assert stamp(api, card).status_code == 200
    assert stamp(api, card).status_code == 429
    assert api.post(f"{base}/earn-points/", {"purchase_amount": "5.00"}, format="json").status_code == 200
    assert api.post(f"{base}/earn-points/", {"purchase_amount": "5.00"}, format="json").status_code == 429
    # redeem-stamps and redeem-points share the "redeem" group.
    assert api.post(f"{base}/redeem-points/", {"points": 1}, format="json").status_code == 200
    error_of(api.post(f"{base}/redeem-stamps/", {}, format="json"), 429, "rate_limited")


def test_void_and_adjust_limits(settings, manager, card):
    limits(settings, void="1/m", adjust="1/m")
    api = client_for(manager)
    base = f"/api/v1/cards/{card.card_number}"
    assert api.post(f"{base}/adjust/", {"points_delta": 5, "reason": "x"}, format="json").status_code == 200
    error_of(api.post(f"{base}/adjust/", {"points_delta": 5, "reason": "x"}, format="json"), 429, "rate_limited")
    assert api.post(f"{base}/void-points/", {"points": 1, "reason": "x"}, format="json").status_code == 200
    error_of(api.post(f"{base}/void-points/", {"points": 1, "reason": "x"}, format="json"), 429, "rate_limited")


def test_default_pin_limit_is_ten_a_minute(cashier, manager):
    api = client_for(cashier)
    for _ in range(10):
        assert api.post("/api/v1/staff/pin/verify/", {"pin": "1234"}, format="json").status_code == 200
    error_of(api.post("/api/v1/staff/pin/verify/", {"pin": "1234"}, format="json"), 429, "rate_limited")


def test_pin_unlock_is_limited(settings, manager, cashier):
    limits(settings, pin="1/m")
    api = client_for(manager)
    assert api.post(f"/api/v1/staff/{cashier.pk}/pin/unlock/", format="json").status_code == 200
    error_of(api.post(f"/api/v1/staff/{cashier.pk}/pin/unlock/", format="json"), 429, "rate_limited")


def test_reads_are_not_limited(settings, cashier, card):
    limits(settings, stamp="1/m")
    api = client_for(cashier)
    for _ in range(5):
        assert api.get(f"/api/v1/cards/{card.card_number}/").status_code == 200


def test_cache_down_fails_open_and_logs(settings, cashier, card, caplog):
    limits(settings, stamp="1/m")
    settings.CACHES = {
        "default": {
            "BACKEND": "core.redis_cache.RedisCache",  # as config/settings.py
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    api = client_for(cashier)
    with caplog.at_level(logging.WARNING, logger="loyalty.api.ratelimits"):
        assert [stamp(api, card).status_code for _ in range(3)] == [200, 200, 200]
    assert "fail open" in caplog.text
    assert card.transactions.filter(type=Type.STAMP).count() == 3


@pytest.mark.redis
@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis (REDIS_URL=redis://…)")
def test_limit_counts_live_in_redis(settings, cashier, card):
    from django.core.cache.backends.redis import RedisCache

    redis_cache = caches["default"]
    assert isinstance(redis_cache, RedisCache)
    limits(settings, stamp="2/m")
    api = client_for(cashier)
    assert [stamp(api, card).status_code for _ in range(3)] == [200, 200, 429]
    client = redis_cache._cache.get_client(write=False)
    assert any(key.startswith(b":1:rl:") for key in client.keys("*rl:*"))


@pytest.mark.redis
@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis (REDIS_URL=redis://…)")
def test_the_cache_makes_one_redis_client_per_pool_not_one_per_call():
    from core.redis_cache import RedisCache

    redis_cache = caches["default"]
    assert isinstance(redis_cache, RedisCache)  # config/settings.py with REDIS_URL
    first = redis_cache._cache.get_client(write=True)
    redis_cache.set("shared-client-check", 1, 5)
    assert redis_cache._cache.get_client(write=True) is first
    assert redis_cache.incr("shared-client-check") == 2
