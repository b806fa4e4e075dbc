"""Nothing of merchant B shows anywhere in the admin of merchant A's owner.

Every registered ModelAdmin is walked: its changelist (filters and facets included), its add
form and the change form of one of A's rows, and the autocomplete endpoint for every relation
of every registered model. B's rows carry distinctive names; none may appear in the HTML.
The platform operator, who sees everything, is the control: B's names are on his pages.
"""

import pytest
from django.contrib import admin
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from loyalty import services
from tests.factories import (
    CustomerFactory,
    ProgramFactory,
    RewardFactory,
    StaffMemberFactory,
    StoreFactory,
    UserFactory,
)
from wallet.models import AppleDeviceRegistration, GoogleWalletClass

# What B is called, everywhere it could show: a filter, a choice list, a readonly field, a search hit.
B_MARKERS = [
    "Zebra Bakery",
    "zebra-bakery",
    "Bakery Main",
    "zebra-main",
    "Bakery Annex",
    "Croissant Club",
    "Free Baguette",
    "Zorro",
    "Bakerysson",
    "zorro@bakery.example",
    "bakery_owner",
    "bakery_cashier",
    "ZEBRA-ORDER",
    "zebra-device",
    "zebra.class",
]


@pytest.fixture
def world(db):
    """Merchant A (two stores, one of everything) and merchant B named so a leak is obvious."""
    a_program = ProgramFactory(merchant__name="Alpha Coffee", merchant__slug="alpha-coffee", name="Alpha Club")
    a_stores = [
        StoreFactory(merchant=a_program.merchant, code="alpha-main", name="Alpha Main"),
        StoreFactory(merchant=a_program.merchant, code="alpha-kiosk", name="Alpha Kiosk"),
    ]
    a_owner = StaffMemberFactory(merchant=a_program.merchant, role="owner", stores=a_stores, user__username="alpha")
    StaffMemberFactory(merchant=a_program.merchant, role="cashier", stores=a_stores[:1], user__username="alpha_cashier")
    RewardFactory(program=a_program, name="Free Espresso")
    a_card = services.issue_card(
        customer=CustomerFactory(merchant=a_program.merchant, first_name="Alice", last_name="Alphason"),
        program=a_program,
        store=a_stores[0],
    )
    services.adjust_balance(card=a_card, staff_user=a_owner.user, reason="alpha", points_delta=5, store=a_stores[1])
    AppleDeviceRegistration.objects.create(device_library_identifier="alpha-device", card=a_card, push_token="t")
    GoogleWalletClass.objects.create(program=a_program, class_id="alpha.class", program_updated_at=timezone.now())

    b_program = ProgramFactory(
        merchant__name="Zebra Bakery", merchant__slug="zebra-bakery", name="Croissant Club", welcome_bonus=5
    )
    b_stores = [
        StoreFactory(merchant=b_program.merchant, code="zebra-main", name="Bakery Main"),
        StoreFactory(merchant=b_program.merchant, code="zebra-annex", name="Bakery Annex"),
    ]
    b_owner = StaffMemberFactory(
        merchant=b_program.merchant, role="owner", stores=b_stores, user__username="bakery_owner"
    )
    StaffMemberFactory(merchant=b_program.merchant, role="cashier", stores=b_stores, user__username="bakery_cashier")
    RewardFactory(program=b_program, name="Free Baguette")
    b_card = services.issue_card(
        customer=CustomerFactory(
            merchant=b_program.merchant, first_name="Zorro", last_name="Bakerysson", email="zorro@bakery.example"
        ),
        program=b_program,
        store=b_stores[0],
    )
    services.earn_points(
        card=b_card,
        purchase_amount=9,
        store=b_stores[1],
        staff_user=b_owner.user,
        order_reference="ZEBRA-ORDER-1",
    )
    AppleDeviceRegistration.objects.create(device_library_identifier="zebra-device", card=b_card, push_token="z")
    GoogleWalletClass.objects.create(program=b_program, class_id="zebra.class", program_updated_at=timezone.now())
    return {"a_owner": a_owner, "a_card": a_card, "b_card": b_card}


def leaks(html: str) -> list[str]:
    return [marker for marker in B_MARKERS if marker.lower() in html.lower()]


def admin_pages(client, model, model_admin):
    """(label, response) for the model's changelist (with facets), add form and one change form."""
    meta = model._meta
    name = f"admin:{meta.app_label}_{meta.model_name}"
    changelist = client.get(reverse(f"{name}_changelist"))
    yield f"{meta.label} changelist", changelist
    yield f"{meta.label} changelist with facets", client.get(reverse(f"{name}_changelist") + "?_facets=True")
    yield f"{meta.label} add", client.get(reverse(f"{name}_add"))
    if changelist.status_code == 200:
        rows = list(changelist.context["cl"].result_list[:1])
        for row in rows:
            yield f"{meta.label} change", client.get(reverse(f"{name}_change", args=[row.pk]))
            try:
                yield f"{meta.label} history", client.get(reverse(f"{name}_history", args=[row.pk]))
            except NoReverseMatch:
                pass


def test_owner_sees_no_other_merchants_names_on_any_admin_page(client, world):
    client.force_login(world["a_owner"].user)
    seen = 0
    for model, model_admin in admin.site._registry.items():
        for label, response in admin_pages(client, model, model_admin):
            assert response.status_code in (200, 302, 403), label
            if response.status_code == 200:
                seen += 1
                assert leaks(response.content.decode()) == [], label
    assert seen >= 30  # every merchant model's pages were really rendered, not refused


def test_owner_filters_offer_only_own_stores_programs_and_staff(client, world):
    client.force_login(world["a_owner"].user)
    cards = client.get(reverse("admin:loyalty_loyaltycard_changelist")).content.decode()
    assert "Alpha Main (alpha-main)" in cards and "Alpha Kiosk (alpha-kiosk)" in cards
    ledger = client.get(reverse("admin:loyalty_loyaltytransaction_changelist")).content.decode()
    assert "Alpha Kiosk (alpha-kiosk)" in ledger
    for html in (cards, ledger):
        assert leaks(html) == []


def test_scoped_filters_cover_paths_tuples_and_related_only(rf, world):
    from django.contrib.admin import RelatedFieldListFilter, RelatedOnlyFieldListFilter

    from loyalty.admin import LoyaltyTransactionAdmin
    from loyalty.models import LoyaltyTransaction

    class Probe(LoyaltyTransactionAdmin):
        list_filter = [
            "card__enrolled_at_store",
            ("store", RelatedOnlyFieldListFilter),
            ("card__program", RelatedFieldListFilter),
            "staff_user",
            "merchant",
        ]

    request = rf.get("/admin/loyalty/loyaltytransaction/")
    request.user = world["a_owner"].user
    changelist = Probe(LoyaltyTransaction, admin.site).get_changelist_instance(request)
    offered = {spec.title: [label for _, label in spec.lookup_choices] for spec in changelist.filter_specs}
    text = repr(offered)
    assert leaks(text) == [], offered
    assert "Alpha Main (alpha-main)" in text and "alpha" in text  # own store and own staff are offered


def test_autocomplete_offers_nothing_of_another_merchant(client, world):
    client.force_login(world["a_owner"].user)
    asked = 0
    for model in admin.site._registry:
        for field in model._meta.get_fields():
            if not (field.is_relation and field.concrete and field.related_model in admin.site._registry):
                continue
            for term in ("", "Bakery", "Zorro", "Croissant", "zebra"):
                response = client.get(
                    reverse("admin:autocomplete"),
                    {
                        "app_label": model._meta.app_label,
                        "model_name": model._meta.model_name,
                        "field_name": field.name,
                        "term": term,
                    },
                )
                assert response.status_code in (200, 403, 404), (model, field.name)
                if response.status_code == 200:
                    asked += 1
                    assert leaks(response.content.decode()) == [], (model, field.name, term)
    assert asked  # some relations do autocomplete (stores, programs, customers…)


def test_the_operator_does_see_both_merchants(client, world):
    """The control: the markers are on the pages when the user may see B."""
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    cards = client.get(reverse("admin:loyalty_loyaltycard_changelist")).content.decode()
    assert "Bakery Main (zebra-main)" in cards and "Alpha Main (alpha-main)" in cards
