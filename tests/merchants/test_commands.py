import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from customers.models import Customer
from loyalty.models import LoyaltyCard, LoyaltyProgram, LoyaltyTransaction, Reward
from merchants import pins
from merchants.models import Merchant, StaffMember, Store


def snapshot():
    return {
        "merchants": sorted(Merchant.objects.values_list("slug", "name", "is_active")),
        "stores": sorted(Store.objects.values_list("merchant__slug", "code", "name")),
        "programs": sorted(LoyaltyProgram.objects.values_list("merchant__slug", "kind", "require_staff_pin")),
        "rewards": sorted(Reward.objects.values_list("program__merchant__slug", "name", "points_cost")),
        "staff": sorted(StaffMember.objects.values_list("user__username", "merchant__slug", "role", "pin_hash")),
        "users": sorted(get_user_model().objects.values_list("username", "password", "is_staff")),
        "customers": sorted(Customer.objects.values_list("merchant__slug", "email", "birth_date")),
        "cards": sorted(LoyaltyCard.objects.values_list("card_number", "points_balance", "stamp_count")),
        "ledger": LoyaltyTransaction.objects.count(),
    }


def test_seed_demo_twice_gives_the_same_data(db):
    call_command("seed_demo")
    first = snapshot()
    call_command("seed_demo")
    assert snapshot() == first
    assert [slug for slug, *_ in first["merchants"]] == ["demo-bakery", "demo-coffee"]
    assert {code for slug, code, _ in first["stores"] if slug == "demo-coffee"} == {"main", "station"}
    assert dict((s, (k, pin)) for s, k, pin in first["programs"]) == {
        "demo-coffee": ("hybrid", True),
        "demo-bakery": ("stamps", False),
    }
    users = {u: m for u, m, *_ in first["staff"]}
    assert users == {
        "owner": "demo-coffee",
        "manager": "demo-coffee",
        "cashier": "demo-coffee",
        "bakery-owner": "demo-bakery",
        "bakery-cashier": "demo-bakery",
    }
    for member in StaffMember.objects.select_related("user"):
        assert member.user.check_password("demo-pass-1234")
        assert pins.pin_matches(member.pin_hash, "1234")
    assert LoyaltyCard.objects.count() == Customer.objects.count() >= 4
    call_command("verify_ledger")


def test_verify_ledger_reports_tampered_card(db, capsys):
    call_command("seed_demo")
    card = LoyaltyCard.objects.filter(merchant__slug="demo-coffee").first()
    LoyaltyCard.objects.filter(pk=card.pk).update(points_balance=card.points_balance + 3)
    with pytest.raises(CommandError, match="1 of"):
        call_command("verify_ledger")
    assert card.card_number in capsys.readouterr().out
