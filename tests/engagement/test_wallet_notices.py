"""What the wallet passes announce: points about to expire, a reward ready; Google's notify cap."""

import datetime
import json
from decimal import Decimal

from django.utils import timezone

from loyalty import services
from loyalty.models import LoyaltyCard
from tests.factories import RewardFactory
from wallet.apple.pkpass import pass_json
from wallet.google import save_url, sync_card_object
from wallet.google.notify import NOTIFY_LIMIT


def back_field(card, key):
    card = LoyaltyCard.objects.select_related("program__merchant", "merchant", "customer").get(pk=card.pk)
    data = pass_json(card)
    json.dumps(data)  # serialisable
    return {field["key"]: field for field in data["storeCard"]["backFields"]}.get(key)


def near_expiry(card, points=120):
    services.earn_points(card=card, purchase_amount=Decimal(points), store=None, staff_user=None)
    LoyaltyCard.objects.filter(pk=card.pk).update(last_activity_at=timezone.now() - datetime.timedelta(days=355))
    card.refresh_from_db()
    return card


def stamp(card, times=1):
    for _ in range(times):
        services.add_stamp(card=card, store=None, staff_user=None)
    card.refresh_from_db()


def test_apple_pass_shows_the_expiry_date_and_amount_with_a_change_message(apple_wallet, card_factory):
    card = card_factory()
    services.earn_points(card=card, purchase_amount=Decimal("120"), store=None, staff_user=None)
    far = back_field(card, "expiry")
    assert far == {"key": "expiry", "label": "Points expiring", "value": "—"}  # no changeMessage: silent

    near_expiry(card, 1)
    near = back_field(card, "expiry")
    assert near["value"].startswith("121 points on ")
    assert near["changeMessage"] == "Points expiring: %@"


def test_apple_pass_in_french(apple_wallet, card_factory):
    card = near_expiry(card_factory(preferred_language="fr"))
    field = back_field(card, "expiry")
    assert field["label"] == "Points bientôt expirés" and field["value"].startswith("120 points le ")
    assert field["changeMessage"] == "Points bientôt expirés : %@"


def test_apple_pass_announces_a_stamp_reward_and_redeeming_is_silent(apple_wallet, card_factory):
    card = card_factory()
    stamp(card, 4)
    assert back_field(card, "reward_ready") == {"key": "reward_ready", "label": "Reward available", "value": "—"}
    stamp(card)
    ready = back_field(card, "reward_ready")
    assert ready["value"] == "A free coffee" and ready["changeMessage"] == "Reward available: %@"
    services.redeem_stamps(card=card, store=None, staff_user=None)
    assert "changeMessage" not in back_field(card, "reward_ready")


def test_apple_pass_announces_points_affording_the_cheapest_reward(apple_wallet, card_factory, program):
    RewardFactory(program=program, name="Croissant", name_fr="Croissant offert", points_cost=50)
    RewardFactory(program=program, name="Lunch", points_cost=500)
    card = card_factory(preferred_language="fr")
    services.earn_points(card=card, purchase_amount=Decimal("49"), store=None, staff_user=None)
    assert "changeMessage" not in back_field(card, "reward_ready")
    services.earn_points(card=card, purchase_amount=Decimal("1"), store=None, staff_user=None)
    ready = back_field(card, "reward_ready")
    assert ready["value"] == "Croissant offert" and ready["changeMessage"] == "Récompense disponible : %@"


def object_patches(google_fake):
    return [r.body for r in google_fake.api_requests("PATCH", "loyaltyObject")]


def test_google_object_carries_the_messages_and_notifies_a_new_one(google_wallet, card_factory):
    card = card_factory()
    save_url(card)
    google_wallet.reset()

    services.earn_points(card=card, purchase_amount=Decimal("5"), store=None, staff_user=None)
    sync_card_object(card.pk)
    [plain] = object_patches(google_wallet)
    assert plain["messages"] == [] and "notifyPreference" not in plain  # a balance change is silent

    google_wallet.reset()
    near_expiry(card)
    sync_card_object(card.pk)
    [patch] = object_patches(google_wallet)
    assert patch["notifyPreference"] == "NOTIFY_ON_UPDATE"
    [message] = patch["messages"]
    assert message["messageType"] == "TEXT_AND_NOTIFY" and message["id"].startswith("expiry:")
    assert message["header"] == "Points expiring" and "points expire on" in message["body"]

    # The same fact again: shown, not notified again.
    google_wallet.reset()
    sync_card_object(card.pk)
    [again] = object_patches(google_wallet)
    assert "notifyPreference" not in again and again["messages"][0]["messageType"] == "TEXT"


def test_google_notifies_at_most_three_times_a_day_then_updates_silently(google_wallet, card_factory, program):
    card = card_factory()
    save_url(card)
    notified = []
    # Four rewards become available in one day (stamp card full, redeemed, full again, ...).
    for _ in range(NOTIFY_LIMIT + 1):
        google_wallet.reset()
        stamp(card, program.stamps_target)
        sync_card_object(card.pk)
        [patch] = object_patches(google_wallet)
        notified.append(patch.get("notifyPreference") == "NOTIFY_ON_UPDATE")
        assert patch["messages"][0]["id"] == "reward:stamps"
        assert patch["messages"][0]["messageType"] == ("TEXT_AND_NOTIFY" if notified[-1] else "TEXT")
        services.redeem_stamps(card=card, store=None, staff_user=None)
        sync_card_object(card.pk)  # the reward is gone: the message is cleared
    assert notified == [True] * NOTIFY_LIMIT + [False]
    card.refresh_from_db()
    assert len(card.google_notices["notified"]) == NOTIFY_LIMIT

    # A day later the cap has room again.
    stale = [
        (datetime.datetime.fromisoformat(t) - datetime.timedelta(hours=25)).isoformat()
        for t in card.google_notices["notified"]
    ]
    LoyaltyCard.objects.filter(pk=card.pk).update(google_notices={"announced": [], "notified": stale})
    google_wallet.reset()
    stamp(card, program.stamps_target)
    sync_card_object(card.pk)
    [patch] = object_patches(google_wallet)
    assert patch["notifyPreference"] == "NOTIFY_ON_UPDATE"


def test_a_new_google_object_does_not_announce_what_it_already_shows(google_wallet, card_factory, program):
    card = card_factory()
    stamp(card, program.stamps_target)
    save_url(card)  # inserted with the reward message already on it
    [inserted] = [r.body for r in google_wallet.api_requests("POST", "loyaltyObject")]
    assert inserted["messages"][0]["messageType"] == "TEXT"
    google_wallet.reset()
    sync_card_object(card.pk)
    assert "notifyPreference" not in object_patches(google_wallet)[0]
