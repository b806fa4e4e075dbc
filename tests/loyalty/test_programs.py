"""Richer programs (issue 15): the reward ladder, promotions, participating stores and tiers,
through the services, the API, the admin and the database."""

import datetime
import zoneinfo
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import LoyaltyError
from loyalty import services
from loyalty.admin import PromotionForm
from loyalty.models import LoyaltyTransaction, Promotion, Reward, Tier
from tests.factories import (
    MerchantFactory,
    ProgramFactory,
    RewardFactory,
    StaffMemberFactory,
    StoreFactory,
)
from tests.loyalty.test_api_cards import client_for, error_of
from wallet.models import WalletUpdate

Type = LoyaltyTransaction.Type
PARIS = zoneinfo.ZoneInfo("Europe/Paris")


def paris(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=PARIS)


@pytest.fixture
def api(cashier):
    return client_for(cashier)


def post(client, card, action, body=None):
    return client.post(f"/api/v1/cards/{card.card_number}/{action}/", body or {}, format="json")


def stamps(card, store, count, staff=None):
    for _ in range(count):
        services.add_stamp(card=card, store=store, staff_user=staff)
    card.refresh_from_db()


def promotion(program, **fields) -> Promotion:
    defaults = {
        "name": "Double points",
        "starts_at": paris(2026, 1, 1, 0, 0),
        "ends_at": paris(2027, 1, 1, 0, 0),
        "points_multiplier": Decimal("2"),
        "bonus_stamps": 0,
    }
    stores = fields.pop("stores", None)
    return services.save_promotion(promotion=Promotion(program=program, **{**defaults, **fields}), stores=stores)


# --- the reward ladder ----------------------------------------------------------------------------


@pytest.fixture
def cake(program):
    return RewardFactory(program=program, name="Cake", points_cost=None, stamps_cost=10)


def test_ladder_redeems_the_reward_picked_and_takes_its_stamps(card, store, cashier, program, cake):
    stamps(card, store, 12)
    result = services.redeem_stamps(card=card, store=store, staff_user=cashier.user, reward=cake)
    assert result.card.stamp_count == 2 and result.card.rewards_redeemed == 1
    row = result.transaction
    assert (row.type, row.stamps_delta, row.reward, row.reason) == (Type.STAMP_REDEEM, -10, cake, "Cake")
    # Without a reward: the program's own reward at stamps_target (5), as before the ladder.
    with pytest.raises(LoyaltyError) as refused:
        services.redeem_stamps(card=card, store=store, staff_user=cashier.user)
    assert refused.value.code == "insufficient_stamps"
    assert refused.value.details == {"stamp_count": 2, "stamps_target": 5}


def test_ladder_refuses_too_few_stamps_and_changes_nothing(card, store, cashier, cake):
    stamps(card, store, 9)
    with pytest.raises(LoyaltyError) as refused:
        services.redeem_stamps(card=card, store=store, staff_user=cashier.user, reward=cake)
    assert refused.value.code == "insufficient_stamps" and refused.value.status == 409
    assert refused.value.details == {"stamp_count": 9, "stamps_target": 10}
    card.refresh_from_db()
    assert card.stamp_count == 9 and not card.transactions.filter(type=Type.STAMP_REDEEM).exists()


def test_api_lists_the_ladder_and_redeems_by_reward_id(api, card, store, cashier, program, cake):
    stamps(card, store, 6)
    data = api.get(f"/api/v1/cards/{card.card_number}/").json()
    assert data["stamp_rewards"] == [
        {"id": None, "name": "A free coffee", "description": "", "stamps_cost": 5, "available": True},
        {"id": cake.pk, "name": "Cake", "description": "", "stamps_cost": 10, "available": False},
    ]
    error = error_of(post(api, card, "redeem-stamps", {"reward_id": cake.pk}), 409, "insufficient_stamps")
    assert error["details"] == {"stamp_count": 6, "stamps_target": 10}
    stamps(card, store, 4)
    body = post(api, card, "redeem-stamps", {"reward_id": cake.pk}).json()
    assert body["transaction"]["reward_id"] == cake.pk and body["transaction"]["stamps_delta"] == -10
    assert body["card"]["stamp_count"] == 0
    # Without reward_id: the program's reward, as before.
    stamps(card, store, 5)
    body = post(api, card, "redeem-stamps").json()
    assert body["transaction"]["stamps_delta"] == -5 and body["transaction"]["reward_id"] is None


def test_api_refuses_another_merchants_reward_an_inactive_one_and_a_points_reward(
    api, card, store, program, cake, manager
):
    stamps(card, store, 10)
    foreign = RewardFactory(program=ProgramFactory(), points_cost=None, stamps_cost=1)
    error_of(post(api, card, "redeem-stamps", {"reward_id": foreign.pk}), 404, "reward_not_found")
    error_of(post(api, card, "redeem-stamps", {"reward_id": 999_999}), 404, "reward_not_found")
    Reward.objects.filter(pk=cake.pk).update(is_active=False)
    error_of(post(api, card, "redeem-stamps", {"reward_id": cake.pk}), 404, "reward_not_found")
    croissant = RewardFactory(program=program, name="Croissant", points_cost=10)
    error = error_of(post(api, card, "redeem-stamps", {"reward_id": croissant.pk}), 409, "wrong_reward_kind")
    assert "points" in error["message"]
    # And the other way round: a stamps reward is not for sale in points.
    Reward.objects.filter(pk=cake.pk).update(is_active=True)
    services.adjust_balance(card=card, staff_user=manager.user, points_delta=100, stamps_delta=0, reason="test")
    error_of(post(api, card, "redeem-points", {"reward_id": cake.pk}), 409, "wrong_reward_kind")
    card.refresh_from_db()
    assert card.stamp_count == 10 and card.points_balance == 100


def test_wallet_shows_the_next_reward_and_announces_each_rung(card, store, program, cake):
    from wallet.apple.pkpass import pass_json
    from wallet.notices import card_notices

    stamps(card, store, 3)
    fields = {f["key"]: f for f in pass_json(card)["storeCard"]["secondaryFields"]}
    assert fields["reward"]["value"] == "2 more stamps for A free coffee"
    assert card_notices(card) == []
    stamps(card, store, 3)
    fields = {f["key"]: f for f in pass_json(card)["storeCard"]["secondaryFields"]}
    assert fields["reward"]["value"] == "Ready: A free coffee; 4 more stamps for Cake"
    [notice] = card_notices(card)
    assert notice.id == "reward:stamps"
    stamps(card, store, 4)
    [notice] = card_notices(card)
    assert notice.id == f"reward:stamps+stamps:{cake.pk}"  # a new fact: announced again
    assert "Cake" in notice.value


def test_card_page_shows_the_ladder_and_the_tier(client, card, store, program, cake):
    Tier.objects.create(program=program, name="Silver", min_points_12m=0, points_multiplier=Decimal("1.25"))
    services.earn_points(card=card, purchase_amount=Decimal("1.00"), store=store, staff_user=None)
    stamps(card, store, 6)
    html = client.get(f"/card/{card.qr_code_data}/").content.decode()
    assert "Silver member" in html
    assert "Your reward is ready: A free coffee." in html
    assert "4 more stamps until: Cake." in html


# --- promotions -----------------------------------------------------------------------------------


@pytest.fixture
def station(program):
    return StoreFactory(merchant=program.merchant, code="station", name="Station")


@pytest.mark.parametrize(
    ("moment", "applies"),
    [
        (paris(2026, 6, 2, 13, 59, 59), False),  # Tuesday, a second before the hours
        (paris(2026, 6, 2, 14, 0), True),  # Tuesday 14:00, the start included
        (paris(2026, 6, 2, 17, 59, 59), True),
        (paris(2026, 6, 2, 18, 0), False),  # the end excluded
        (paris(2026, 6, 9, 15, 0), False),  # a Tuesday after ends_at
        (paris(2026, 6, 3, 15, 0), False),  # Wednesday
    ],
)
def test_promotion_window_edges_in_time_zone(card, station, program, moment, applies):
    promotion(
        program,
        name="Tuesday afternoons",
        starts_at=paris(2026, 6, 1),
        ends_at=paris(2026, 6, 9, 15, 0),
        weekdays="2",
        start_time=datetime.time(14, 0),
        end_time=datetime.time(18, 0),
        stores=[station],
    )
    result = services.earn_points(
        card=card, purchase_amount=Decimal("10.00"), store=station, staff_user=None, now=moment
    )
    assert result.transaction.points_delta == (20 if applies else 10)
    assert (result.transaction.promotion is not None) == applies
    assert result.transaction.base_points == 10


def test_weekday_is_the_time_zones_day_and_dates_start_included(card, store, program):
    # Tuesday 00:30 in Paris is still Monday 22:30 in UTC.
    promotion(program, name="Tuesday", weekdays="2", starts_at=paris(2026, 6, 2, 0, 30))
    earn = services.earn_points
    monday_late = earn(
        card=card, purchase_amount=Decimal("10"), store=store, staff_user=None, now=paris(2026, 6, 1, 23, 59)
    )
    tuesday = earn(card=card, purchase_amount=Decimal("10"), store=store, staff_user=None, now=paris(2026, 6, 2, 0, 30))
    assert paris(2026, 6, 2, 0, 30).astimezone(datetime.UTC).weekday() == 0  # Monday in UTC
    assert (monday_late.transaction.points_delta, tuesday.transaction.points_delta) == (10, 20)


def test_store_filter_and_best_of(card, store, station, program):
    now = paris(2026, 6, 2, 15, 0)
    promotion(program, name="Station x3", points_multiplier=Decimal("3"), stores=[station])
    promotion(program, name="Everywhere x2", points_multiplier=Decimal("2"))
    promotion(program, name="Everywhere x2 + 2 stamps", points_multiplier=Decimal("2"), bonus_stamps=2)
    promotion(program, name="Bonus stamp", points_multiplier=Decimal("1"), bonus_stamps=1)
    at_main = services.earn_points(card=card, purchase_amount=Decimal("10"), store=store, staff_user=None, now=now)
    at_station = services.earn_points(card=card, purchase_amount=Decimal("10"), store=station, staff_user=None, now=now)
    assert at_main.transaction.promotion.name == "Everywhere x2 + 2 stamps"  # same multiplier: more bonus stamps
    assert at_station.transaction.promotion.name == "Station x3" and at_station.transaction.points_delta == 30
    # A stamp only looks at promotions that give stamps: highest multiplier first among them.
    stamp = services.add_stamp(card=card, store=store, staff_user=None, now=now).transaction
    assert (stamp.stamps_delta, stamp.base_stamps, stamp.promotion.name) == (3, 1, "Everywhere x2 + 2 stamps")
    assert services.best_promotion(program=program, store=station, operation="earn", now=now).name == "Station x3"


def test_api_answer_says_which_promotion_applied(api, card, store, program):
    promotion(program, name="Double Tuesday", starts_at=timezone.now() - datetime.timedelta(hours=1))
    body = post(api, card, "earn-points", {"purchase_amount": "12.50"}).json()
    row = body["transaction"]
    assert row["promotion"]["name"] == "Double Tuesday"
    assert (row["points_delta"], row["base_points"], row["points_multiplier"]) == (25, 12, "2.0000")
    ledger = card.transactions.get(pk=row["id"])
    assert ledger.promotion.name == "Double Tuesday" and ledger.base_points == 12


def test_at_most_ten_active_promotions_per_program(program):
    for index in range(services.MAX_ACTIVE_PROMOTIONS):
        promotion(program, name=f"Promo {index}")
    # An ended one does not count, an inactive one neither.
    promotion(program, name="Over", starts_at=paris(2020, 1, 1), ends_at=paris(2020, 2, 1))
    promotion(program, name="Off", is_active=False)
    with pytest.raises(LoyaltyError) as refused:
        promotion(program, name="Eleventh")
    assert refused.value.code == "too_many_promotions" and refused.value.status == 409
    assert not Promotion.objects.filter(name="Eleventh").exists()


def test_overlapping_promotions_are_found(program, store, station):
    tuesday = promotion(program, name="Tuesday", weekdays="2", start_time=datetime.time(14), end_time=datetime.time(18))
    promotion(program, name="Mornings", start_time=datetime.time(8), end_time=datetime.time(12))
    promotion(program, name="Station weekends", weekdays="67", stores=[station])
    everyday = promotion(program, name="Every day at main", stores=[store])
    assert [p.name for p in services.overlapping_promotions(tuesday)] == ["Every day at main"]
    assert {p.name for p in services.overlapping_promotions(everyday)} == {"Tuesday", "Mornings"}


# --- participating stores -------------------------------------------------------------------------


def test_store_that_does_not_earn_refuses_stamps_and_earns(api, card, store, program, manager):
    store.earns_loyalty = False
    store.save()
    for action, body in (("stamp", {}), ("earn-points", {"purchase_amount": "10.00"})):
        error = error_of(post(api, card, action, body), 409, "store_not_participating")
        assert error["details"] == {"store": "main", "operation": "earn"}
        assert "does not give stamps or points" in error["message"]
    # Redemptions and returns still work there.
    services.adjust_balance(card=card, staff_user=manager.user, points_delta=10, stamps_delta=5, reason="test")
    assert post(api, card, "redeem-stamps").status_code == 200
    assert post(api, card, "redeem-points", {"points": 5}).status_code == 200
    assert post(api, card, "void-points", {"points": 5, "reason": "Return"}).status_code == 200
    assert not card.transactions.filter(type__in=[Type.STAMP, Type.POINTS_EARN]).exists()


def test_store_that_does_not_redeem_refuses_redemptions(api, card, store, program, manager):
    store.redeems_loyalty = False
    store.save()
    services.adjust_balance(card=card, staff_user=manager.user, points_delta=10, stamps_delta=5, reason="test")
    for action, body in (("redeem-stamps", {}), ("redeem-points", {"points": 5})):
        error = error_of(post(api, card, action, body), 409, "store_not_participating")
        assert error["details"]["operation"] == "redeem" and "cannot be redeemed" in error["message"]
    assert post(api, card, "stamp").status_code == 200
    card.refresh_from_db()
    assert (card.stamp_count, card.points_balance) == (6, 10)


def test_staff_me_tells_the_pos_which_stores_take_part(cashier, store):
    store.redeems_loyalty = False
    store.save()
    [data] = client_for(cashier).get("/api/v1/staff/me/").json()["stores"]
    assert (data["earns_loyalty"], data["redeems_loyalty"]) == (True, False)


# --- tiers ----------------------------------------------------------------------------------------


@pytest.fixture
def tiers(program):
    return (
        Tier.objects.create(program=program, name="Silver", min_points_12m=500, points_multiplier=Decimal("1.25")),
        Tier.objects.create(program=program, name="Gold", min_points_12m=1500, points_multiplier=Decimal("1.50")),
    )


def earn(card, store, amount, now=None):
    return services.earn_points(card=card, purchase_amount=Decimal(amount), store=store, staff_user=None, now=now)


def test_tier_upgrade_at_the_earn_that_crosses_and_multipliers_combined_with_flooring(card, store, program, tiers):
    silver, gold = tiers
    first = earn(card, store, "499.00")
    assert first.card.tier is None
    crossing = earn(card, store, "1.00")  # 500 in 12 months: Silver at once, this earn still at x1
    assert crossing.transaction.points_delta == 1 and crossing.card.tier == silver
    card.refresh_from_db()
    assert card.tier == silver and card.tier_changed_at is not None
    assert WalletUpdate.objects.filter(card=card).exists()
    promotion(
        program, name="x1.5", points_multiplier=Decimal("1.5"), starts_at=timezone.now() - datetime.timedelta(days=1)
    )
    row = earn(card, store, "10.10").transaction  # 10.10 x 1 x 1.25 x 1.5 = 18.9375
    assert (row.points_delta, row.base_points, row.points_multiplier) == (18, 10, Decimal("1.875"))
    assert services.points_earned_12m(card) == 518


def test_tier_goes_down_only_at_the_nightly_review(card, store, program, tiers, capsys):
    silver, gold = tiers
    long_ago = timezone.now() - datetime.timedelta(days=400)
    earn(card, store, "1600.00", now=long_ago)  # Gold then, but more than 365 days ago
    card.refresh_from_db()
    assert card.tier == gold
    recent = earn(card, store, "600.00")  # x1.5 as Gold: 900 points, still Gold at the till
    assert recent.transaction.points_delta == 900 and recent.card.tier == gold
    services.void_points(card=card, store=store, staff_user=None, earn_transaction_id=recent.transaction.pk)
    card.refresh_from_db()
    assert card.tier == gold  # a void never moves a card down by itself

    call_command("review_tiers", "--dry-run")
    assert "would move card" in capsys.readouterr().out
    card.refresh_from_db()
    assert card.tier == gold

    WalletUpdate.objects.all().delete()
    report = services.review_tiers()
    card.refresh_from_db()
    assert card.tier is None and (report.down, report.up) == (1, 0)  # 0 points in 12 months now
    assert WalletUpdate.objects.filter(card=card).exists()
    assert services.review_tiers().changes == []  # a second run changes nothing


def test_review_also_moves_up_after_a_threshold_is_lowered(card, store, program, tiers):
    silver, _ = tiers
    earn(card, store, "300.00")
    Tier.objects.filter(pk=silver.pk).update(min_points_12m=250)
    services.review_tiers()
    card.refresh_from_db()
    assert card.tier == silver


def test_api_shows_the_tier(api, card, store, tiers):
    earn(card, store, "600.00")
    data = api.get(f"/api/v1/cards/{card.card_number}/").json()
    assert data["tier"] == {"name": "Silver", "min_points_12m": 500, "points_multiplier": "1.25"}


def test_changing_a_rule_never_rewrites_the_ledger(card, store, program, tiers):
    silver, _ = tiers
    promo = promotion(program, starts_at=timezone.now() - datetime.timedelta(days=1))
    row = earn(card, store, "10.00").transaction
    Promotion.objects.filter(pk=promo.pk).update(points_multiplier=Decimal("5"))
    program.points_per_euro = Decimal("3")
    program.save()
    row.refresh_from_db()
    assert (row.points_delta, row.base_points, row.points_multiplier, row.promotion_id) == (20, 10, 2, promo.pk)


def test_tier_pass_fields(card, store, tiers):
    from wallet.apple.pkpass import pass_json
    from wallet.google.resources import object_body

    earn(card, store, "600.00")
    card.refresh_from_db()
    aux = {f["key"]: f for f in pass_json(card)["storeCard"]["auxiliaryFields"]}
    assert aux["tier"]["value"] == "Silver" and "%@" in aux["tier"]["changeMessage"]
    modules = {m["id"]: m for m in object_body(card, notices=[])["textModulesData"]}
    assert modules["tier"]["body"] == "Silver"


# --- the admin refuses invalid configurations ------------------------------------------------------


def promotion_form(program, **overrides):
    data = {
        "program": program.pk,
        "name": "Promo",
        "starts_at": "2026-06-01 00:00",
        "ends_at": "2099-06-30 00:00",
        "weekdays": ["2"],
        "start_time": "14:00",
        "end_time": "18:00",
        "points_multiplier": "2",
        "bonus_stamps": "0",
        "is_active": "on",
    }
    data.update(overrides)
    return PromotionForm(data={k: v for k, v in data.items() if v is not None})


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"points_multiplier": "0"}, "points_multiplier"),
        ({"points_multiplier": "11"}, "points_multiplier"),
        ({"bonus_stamps": "6"}, "bonus_stamps"),
        ({"ends_at": "2026-05-01 00:00"}, "ends_at"),
        ({"end_time": "13:00"}, "end_time"),
        ({"end_time": None}, "end_time"),
        ({"points_multiplier": "1", "bonus_stamps": "0"}, "__all__"),
    ],
)
def test_promotion_form_refuses_invalid_rules(program, overrides, field):
    form = promotion_form(program, **overrides)
    assert not form.is_valid()
    assert field in form.errors


def test_promotion_form_accepts_a_valid_one_and_refuses_an_eleventh(program):
    form = promotion_form(program)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["weekdays"] == "2"
    for index in range(services.MAX_ACTIVE_PROMOTIONS):
        promotion(program, name=f"Promo {index}", ends_at=paris(2099, 1, 1))
    form = promotion_form(program)
    assert not form.is_valid() and "maximum" in str(form.errors["__all__"])


def test_promotion_form_refuses_another_merchants_store(program):
    foreign = StoreFactory(merchant=MerchantFactory())
    form = promotion_form(program, stores=[foreign.pk])
    assert not form.is_valid() and "stores" in form.errors


@pytest.fixture
def owner(store):
    return StaffMemberFactory(merchant=store.merchant, stores=[store], role="owner")


def test_admin_refuses_a_reward_with_both_costs_and_saves_a_stamps_reward(client, owner, program):
    client.force_login(owner.user)
    base = {"program": program.pk, "name": "Cake", "is_active": "on"}
    response = client.post("/admin/loyalty/reward/add/", {**base, "points_cost": "10", "stamps_cost": "10"})
    assert response.status_code == 200 and "not both" in response.content.decode()
    response = client.post("/admin/loyalty/reward/add/", base)
    assert response.status_code == 200 and "in points or in stamps" in response.content.decode()
    assert client.post("/admin/loyalty/reward/add/", {**base, "stamps_cost": "10"}).status_code == 302
    assert Reward.objects.get(name="Cake").stamps_cost == 10


def test_admin_saves_a_promotion_and_warns_about_an_overlap(client, owner, program, store):
    promotion(program, name="Every day", ends_at=paris(2099, 1, 1))
    client.force_login(owner.user)
    response = client.post(
        "/admin/loyalty/promotion/add/",
        {
            "program": program.pk,
            "name": "Double Tuesday",
            "starts_at_0": "2026-06-01",
            "starts_at_1": "00:00",
            "ends_at_0": "2099-06-30",
            "ends_at_1": "00:00",
            "weekdays": ["2"],
            "start_time": "14:00",
            "end_time": "18:00",
            "stores": [store.pk],
            "points_multiplier": "2",
            "bonus_stamps": "0",
            "is_active": "on",
        },
        follow=True,
    )
    assert response.status_code == 200
    saved = Promotion.objects.get(name="Double Tuesday")
    assert saved.weekdays == "2" and list(saved.stores.all()) == [store]
    assert "overlaps with “Every day”" in response.content.decode()


def test_owner_of_another_merchant_cannot_see_the_promotion(client, program):
    promo = promotion(program, name="Secret")
    other = StaffMemberFactory(merchant=MerchantFactory(), role="owner")
    client.force_login(other.user)
    assert client.get(f"/admin/loyalty/promotion/{promo.pk}/change/").status_code == 404
    assert "Secret" not in client.get("/admin/loyalty/promotion/").content.decode()


# --- the database enforces every new rule ----------------------------------------------------------


def refused(constraint: str, create):
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        create()


def test_database_constraints(program):
    refused(
        "reward_points_or_stamps_cost",
        lambda: Reward.objects.create(program=program, name="x", points_cost=1, stamps_cost=1),
    )
    refused("reward_points_or_stamps_cost", lambda: Reward.objects.create(program=program, name="x"))
    refused("reward_stamps_cost_gte_1", lambda: Reward.objects.create(program=program, name="x", stamps_cost=0))
    base = {"program": program, "name": "p", "starts_at": paris(2026, 1, 1), "ends_at": paris(2026, 2, 1)}
    cases = [
        ("promotion_points_multiplier_1_to_10", {"points_multiplier": Decimal("11")}),
        ("promotion_points_multiplier_1_to_10", {"points_multiplier": Decimal("0"), "bonus_stamps": 1}),
        ("promotion_bonus_stamps_0_to_5", {"bonus_stamps": 6}),
        ("promotion_ends_after_start", {"points_multiplier": 2, "ends_at": paris(2025, 1, 1)}),
        ("promotion_gives_something", {"points_multiplier": 1, "bonus_stamps": 0}),
        (
            "promotion_hours_start_before_end",
            {"points_multiplier": 2, "start_time": datetime.time(18), "end_time": datetime.time(14)},
        ),
        ("promotion_hours_start_before_end", {"points_multiplier": 2, "start_time": datetime.time(18)}),
        ("promotion_weekdays_iso_in_order", {"points_multiplier": 2, "weekdays": "21"}),
        ("promotion_weekdays_iso_in_order", {"points_multiplier": 2, "weekdays": "8"}),
    ]
    for constraint, fields in cases:
        refused(constraint, lambda fields=fields: Promotion.objects.create(**{**base, **fields}))
    refused(
        "tier_points_multiplier_1_to_5",
        lambda: Tier.objects.create(program=program, name="t", min_points_12m=1, points_multiplier=Decimal("5.5")),
    )
    Tier.objects.create(program=program, name="Silver", min_points_12m=500)
    refused(
        "min_points_12m",
        lambda: Tier.objects.create(program=program, name="Other", min_points_12m=500),
    )


def test_a_shortened_expiry_applies_to_activity_after_the_change(card, store, program):
    from loyalty.selectors import points_expiry

    program.points_expiry_days = 365
    program.save()
    earn(card, store, "50.00", now=timezone.now() - datetime.timedelta(days=100))
    card.refresh_from_db()
    program.refresh_from_db()
    program.points_expiry_days = 30
    services.update_program(program=program)
    assert services.expire_points().cards == 0  # inactive for 100 days, but the 30 days count from now
    card.refresh_from_db()
    assert points_expiry(card).expires_on == timezone.localdate(timezone.now() + datetime.timedelta(days=30))
    later = timezone.now() + datetime.timedelta(days=31)
    assert services.expire_points(now=later).points == 50
    # Lengthening it again changes nothing for the date of the change.
    program.refresh_from_db()
    changed_at = program.points_expiry_changed_at
    program.points_expiry_days = 60
    services.update_program(program=program)
    program.refresh_from_db()
    assert program.points_expiry_changed_at == changed_at
