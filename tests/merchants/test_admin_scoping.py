"""An owner of merchant A sees, opens and picks nothing of merchant B in the admin."""

from decimal import Decimal

import pytest
from django.urls import reverse

from loyalty import services
from loyalty.models import LoyaltyCard, LoyaltyProgram, LoyaltyTransaction, Reward
from merchants.models import Merchant, StaffMember, Store
from tests.factories import (
    CustomerFactory,
    ProgramFactory,
    RewardFactory,
    StaffMemberFactory,
    StoreFactory,
    UserFactory,
    make_card,
)


@pytest.fixture
def world(db):
    """Two merchants with one of everything each."""
    data = {}
    for key in ("a", "b"):
        program = ProgramFactory(merchant__name=f"Merchant {key.upper()}", welcome_bonus=10)
        store = StoreFactory(merchant=program.merchant, code=f"shop-{key}", name=f"Shop {key.upper()}")
        owner = StaffMemberFactory(merchant=program.merchant, role="owner", stores=[store])
        reward = RewardFactory(program=program, name=f"Reward {key.upper()}")
        customer = CustomerFactory(merchant=program.merchant, last_name=f"Customer{key.upper()}")
        card = make_card(program=program, store=store, customer=customer)
        data[key] = {
            "merchant": program.merchant,
            "program": program,
            "store": store,
            "owner": owner,
            "reward": reward,
            "customer": customer,
            "card": card,
            "transaction": card.transactions.get(),
        }
    return data


def objects_of(side):
    return {
        "merchant": side["merchant"],
        "store": side["store"],
        "staffmember": side["owner"],
        "loyaltyprogram": side["program"],
        "reward": side["reward"],
        "customer": side["customer"],
        "loyaltycard": side["card"],
        "loyaltytransaction": side["transaction"],
    }


def admin_url(obj, view="change"):
    meta = obj._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_{view}", args=[obj.pk])


def changelist_url(obj):
    meta = obj._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")


def test_owner_changelists_show_only_own_merchant(client, world):
    client.force_login(world["a"]["owner"].user)
    for name, own in objects_of(world["a"]).items():
        other = objects_of(world["b"])[name]
        response = client.get(changelist_url(own))
        assert response.status_code == 200, name
        shown = list(response.context["cl"].result_list)
        assert own in shown, name
        assert other not in shown, name


def test_owner_cannot_open_change_or_delete_other_merchant_by_url(client, world):
    client.force_login(world["a"]["owner"].user)
    for name, other in objects_of(world["b"]).items():
        response = client.get(admin_url(other))
        assert response.status_code == 404, name
        assert client.post(admin_url(other), {"name": "hijack"}).status_code == 404, name
        assert client.get(admin_url(other, "history")).status_code == 404, name
        response = client.post(admin_url(other, "delete"), {"post": "yes"})
        assert response.status_code in (403, 404), name
        assert type(other).objects.filter(pk=other.pk).exists(), name


def test_owner_opens_own_objects(client, world):
    client.force_login(world["a"]["owner"].user)
    for name, own in objects_of(world["a"]).items():
        response = client.get(admin_url(own))
        assert response.status_code == 200, name


def test_adjust_view_of_other_merchant_is_404(client, world):
    client.force_login(world["a"]["owner"].user)
    url = reverse("admin:loyalty_loyaltycard_adjust", args=[world["b"]["card"].pk])
    assert client.get(url).status_code == 404
    response = client.post(url, {"points_delta": 100, "stamps_delta": 0, "reason": "steal"})
    assert response.status_code == 404
    world["b"]["card"].refresh_from_db()
    assert world["b"]["card"].points_balance == 10


def test_forms_offer_only_own_stores_and_programs(client, world):
    client.force_login(world["a"]["owner"].user)
    response = client.get(reverse("admin:merchants_staffmember_add"))
    stores = list(response.context["adminform"].form.fields["stores"].queryset)
    assert stores == [world["a"]["store"]]
    merchants = list(response.context["adminform"].form.fields["merchant"].queryset)
    assert merchants == [world["a"]["merchant"]]
    response = client.get(reverse("admin:loyalty_reward_add"))
    programs = list(response.context["adminform"].form.fields["program"].queryset)
    assert programs == [world["a"]["program"]]


def test_posting_other_merchants_store_is_refused(client, world):
    client.force_login(world["a"]["owner"].user)
    response = client.post(
        reverse("admin:merchants_staffmember_add"),
        {
            "username": "newbie",
            "password": "a-long-pass-phrase-77",
            "merchant": world["a"]["merchant"].pk,
            "role": "cashier",
            "stores": [world["b"]["store"].pk],
            "pin": "4321",
        },
    )
    assert response.status_code == 200
    assert "stores" in response.context["adminform"].form.errors
    assert not StaffMember.objects.filter(user__username="newbie").exists()
    response = client.post(
        reverse("admin:loyalty_reward_add"),
        {"program": world["b"]["program"].pk, "name": "Sneaky", "points_cost": 5, "is_active": "on"},
    )
    assert response.status_code == 200
    assert not Reward.objects.filter(name="Sneaky").exists()


def test_owner_creates_staff_with_pin_in_own_merchant(client, world):
    client.force_login(world["a"]["owner"].user)
    response = client.post(
        reverse("admin:merchants_staffmember_add"),
        {
            "username": "newbie",
            "password": "a-long-pass-phrase-77",
            "merchant": world["a"]["merchant"].pk,
            "role": "cashier",
            "stores": [world["a"]["store"].pk],
            "pin": "4321",
        },
    )
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    member = StaffMember.objects.get(user__username="newbie")
    assert member.merchant == world["a"]["merchant"]
    assert member.has_pin and member.pin_hash != "4321"
    assert not member.user.is_staff  # cashiers stay out of the admin
    assert member.user.check_password("a-long-pass-phrase-77")


def test_search_does_not_leak(client, world):
    client.force_login(world["a"]["owner"].user)
    email = world["b"]["customer"].email
    response = client.get(changelist_url(world["a"]["customer"]), {"q": email})
    assert list(response.context["cl"].result_list) == []
    response = client.get(changelist_url(world["a"]["card"]), {"q": world["b"]["card"].card_number})
    assert list(response.context["cl"].result_list) == []
    response = client.get(changelist_url(world["a"]["card"]), {"q": world["a"]["customer"].email})
    assert list(response.context["cl"].result_list) == [world["a"]["card"]]


def test_ledger_is_read_only(client, world):
    client.force_login(world["a"]["owner"].user)
    row = world["a"]["transaction"]
    response = client.post(admin_url(row), {"points_delta": 999})
    assert response.status_code == 403
    assert client.get(reverse("admin:loyalty_loyaltytransaction_add")).status_code == 403
    row.refresh_from_db()
    assert row.points_delta == 10


def test_balances_cannot_be_typed_into_card_form(client, world):
    client.force_login(world["a"]["owner"].user)
    card = world["a"]["card"]
    response = client.get(admin_url(card))
    form = response.context["adminform"].form
    assert "points_balance" not in form.fields and "stamp_count" not in form.fields
    client.post(admin_url(card), {"points_balance": 5000, "stamp_count": 40, "is_active": "on"})
    card.refresh_from_db()
    assert card.points_balance == 10 and card.stamp_count == 0


def test_adjust_through_admin_uses_the_service(client, world):
    client.force_login(world["a"]["owner"].user)
    card = world["a"]["card"]
    url = reverse("admin:loyalty_loyaltycard_adjust", args=[card.pk])
    response = client.post(url, {"points_delta": -20, "stamps_delta": 0, "reason": "typo"})
    assert response.status_code == 200
    assert "card has 10 points" in response.content.decode()
    response = client.post(url, {"points_delta": 15, "stamps_delta": 2, "reason": "paper card"})
    assert response.status_code == 302
    card.refresh_from_db()
    assert (card.points_balance, card.stamp_count) == (25, 2)
    row = card.transactions.latest("id")
    assert (row.type, row.reason, row.staff_user) == ("points_adjust", "paper card", world["a"]["owner"].user)


def test_cashier_has_no_admin(client, world):
    cashier = StaffMemberFactory(merchant=world["a"]["merchant"], role="cashier")
    client.force_login(cashier.user)
    response = client.get(changelist_url(world["a"]["card"]))
    assert response.status_code in (302, 403)


def test_manager_sees_staff_but_cannot_edit(client, world):
    manager = StaffMemberFactory(merchant=world["a"]["merchant"], role="manager")
    client.force_login(manager.user)
    assert client.get(changelist_url(world["a"]["owner"])).status_code == 200
    assert client.get(reverse("admin:merchants_staffmember_add")).status_code == 403


def test_superuser_sees_everything(client, world):
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(root)
    response = client.get(changelist_url(world["a"]["card"]))
    assert set(response.context["cl"].result_list) == {world["a"]["card"], world["b"]["card"]}


def test_superuser_onboards_a_merchant(client, db):
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(root)
    response = client.post(
        reverse("admin:merchants_merchant_add"),
        {"name": "New Shop", "slug": "new-shop", "is_active": "on", "enrollment_open": "on", "country": "FR"},
    )
    assert response.status_code == 302
    merchant = Merchant.objects.get(slug="new-shop")
    response = client.post(
        reverse("admin:merchants_store_add"),
        {"merchant": merchant.pk, "code": "main", "name": "Main", "is_active": "on"},
    )
    assert response.status_code == 302
    # The code is unique within the merchant: a clear form error, not a 500.
    response = client.post(
        reverse("admin:merchants_store_add"),
        {"merchant": merchant.pk, "code": "main", "name": "Dup", "is_active": "on"},
    )
    assert response.status_code == 200
    assert Store.objects.filter(merchant=merchant).count() == 1


def test_program_form_refuses_bad_rules(client, world):
    client.force_login(world["a"]["owner"].user)
    program = world["a"]["program"]
    data = {
        "merchant": program.merchant_id,
        "name": "Club",
        "kind": "hybrid",
        "is_active": "on",
        "stamps_target": 0,
        "stamp_reward_description": "x",
        "stamp_cooldown_minutes": 0,
        "points_per_euro": "-1",
        "min_purchase": "-5",
        "welcome_bonus": -3,
        "background_color": "#000000",
        "foreground_color": "#ffffff",
        "label_color": "#cccccc",
        "rewards-TOTAL_FORMS": 0,
        "rewards-INITIAL_FORMS": 0,
    }
    response = client.post(admin_url(program), data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert {"stamps_target", "points_per_euro", "min_purchase", "welcome_bonus"} <= set(errors)
    program.refresh_from_db()
    assert program.stamps_target == 5 and program.points_per_euro == Decimal("1.00")
    assert LoyaltyProgram.objects.count() == 2


def test_issue_card_action(client, world):
    client.force_login(world["a"]["owner"].user)
    newcomer = CustomerFactory(merchant=world["a"]["merchant"])
    response = client.post(changelist_url(newcomer), {"action": "issue_cards", "_selected_action": [newcomer.pk]})
    assert response.status_code == 302
    card = LoyaltyCard.objects.get(customer=newcomer)
    assert card.points_balance == 10
    assert LoyaltyTransaction.objects.filter(card=card, type="welcome_bonus").count() == 1
    # Running it again does not issue a second card.
    client.post(changelist_url(newcomer), {"action": "issue_cards", "_selected_action": [newcomer.pk]})
    assert LoyaltyCard.objects.filter(customer=newcomer).count() == 1


def test_earn_via_services_is_listed_in_own_ledger_only(client, world):
    services.earn_points(
        card=world["b"]["card"], purchase_amount=Decimal("9"), store=None, staff_user=None, order_reference="B-ONLY"
    )
    client.force_login(world["a"]["owner"].user)
    response = client.get(changelist_url(world["a"]["transaction"]), {"q": "B-ONLY"})
    assert list(response.context["cl"].result_list) == []
