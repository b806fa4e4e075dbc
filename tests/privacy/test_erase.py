"""Erasing a customer: personal data gone from every table, cards off, wallet passes revoked, ledger whole."""

import io

import pytest
from django.apps import apps
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db.models import CharField, JSONField, Q, TextField
from django.db.models.functions import Cast
from rest_framework.test import APIClient

from customers.erasure import erase_customer, erased_email
from customers.models import Customer, Erasure
from loyalty import services
from loyalty.models import IdempotencyRecord, LoyaltyCard, LoyaltyTransaction
from loyalty.selectors import cards_out_of_balance
from notifications.models import OutboundEmail
from tests.factories import CustomerFactory, StaffMemberFactory, make_card
from wallet import delivery
from wallet.google import save_url
from wallet.google.resources import object_id
from wallet.models import AppleDeviceRegistration, WalletUpdate

EMAIL = "ada.unique-person@example.com"
PHONE = "+33698765432"
LAST_NAME = "Zyxwvutsrq"


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def member(shop):
    customer = CustomerFactory(merchant=shop["merchant"], email=EMAIL, phone=PHONE, last_name=LAST_NAME)
    card = make_card(program=shop["program"], store=shop["store"], customer=customer)
    services.earn_points(card=card, store=shop["store"], staff_user=shop["cashier"].user, purchase_amount="30.00")
    services.add_stamp(card=card, store=shop["store"], staff_user=shop["cashier"].user)
    card.refresh_from_db()
    return customer, card


def ledger_sums(card) -> tuple[int, int, int]:
    rows = LoyaltyTransaction.objects.filter(card=card)
    return (
        rows.count(),
        sum(rows.values_list("points_delta", flat=True)),
        sum(rows.values_list("stamps_delta", flat=True)),
    )


def rows_mentioning(*needles: str) -> list[str]:
    """Every row of every table whose text (or JSON) columns contain one of ``needles``."""
    found = []
    for model in apps.get_models():
        if model._meta.proxy or not model._meta.managed:
            continue
        columns = [f for f in model._meta.concrete_fields if isinstance(f, CharField | TextField | JSONField)]
        for column in columns:
            queryset = model._default_manager.all()
            if isinstance(column, JSONField):
                queryset = queryset.annotate(_text=Cast(column.name, TextField()))
                lookup = "_text__icontains"
            else:
                lookup = f"{column.name}__icontains"
            condition = Q()
            for needle in needles:
                condition |= Q(**{lookup: needle})
            for pk in queryset.filter(condition).values_list("pk", flat=True):
                found.append(f"{model._meta.label}.{column.name} (pk {pk})")
    return found


def test_personal_data_is_gone_from_every_table(shop, member, client, admin_user):
    customer, card = member
    # Personal data spread around: emails, a stored POS answer with the name, the admin's history.
    OutboundEmail.objects.create(
        merchant=shop["merchant"],
        customer=customer,
        kind="card_welcome",
        to_address=EMAIL,
        subject=f"Hello Ada {LAST_NAME}",
        body_text=f"Your card, {LAST_NAME}",
        body_html=f"<p>{EMAIL}</p>",
        headers={"List-Unsubscribe": f"<https://x/card/{card.qr_code_data}/>"},
    )
    response = api(shop["cashier"].user).post(
        f"/api/v1/cards/{card.card_number}/stamp/", {"store": "main"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert response.status_code == 200
    assert IdempotencyRecord.objects.filter(response_body__contains=LAST_NAME).exists()
    LogEntry.objects.log_actions(
        user_id=admin_user.pk, queryset=[customer], action_flag=CHANGE, change_message="Changed phone."
    )
    assert rows_mentioning(EMAIL, PHONE, LAST_NAME), "the scan finds the data before erasure"
    card.refresh_from_db()
    before = ledger_sums(card)
    old_qr = card.qr_code_data

    result = erase_customer(customer=customer, reason="Customer asked by email", erased_by=shop["owner"].user)

    assert not result.already_erased
    assert rows_mentioning(EMAIL, PHONE, LAST_NAME, old_qr) == []
    customer.refresh_from_db()
    assert (customer.first_name, customer.last_name) == ("Erased", "Erased")
    assert customer.email == erased_email(customer.pk) == f"erased-{customer.pk}@invalid"
    assert customer.phone == "" and customer.birth_date is None
    assert customer.marketing_opt_in is False and customer.email_opt_out is True
    assert customer.erased_at is not None
    card.refresh_from_db()
    assert card.is_active is False and card.deleted_at is None
    assert ledger_sums(card) == before, "the ledger is kept whole"
    assert not cards_out_of_balance().exists()
    call_command("verify_ledger", stdout=io.StringIO())
    email = OutboundEmail.objects.get(kind="card_welcome", subject="(erased)")
    assert email.to_address == customer.email and email.headers == {}
    erasure = Erasure.objects.get()
    assert (erasure.customer_id, erasure.erased_by, erasure.reason, erasure.cards, erasure.source) == (
        customer.pk,
        shop["owner"].user,
        "Customer asked by email",
        1,
        "admin",
    )
    assert client.get(f"/card/{old_qr}/").status_code == 404
    assert client.get(f"/card/{old_qr}/data/").status_code == 404


def test_the_old_email_and_phone_no_longer_find_the_card(shop, member):
    customer, card = member
    cashier = api(shop["cashier"].user)
    for query in (EMAIL, PHONE, "06 98 76 54 32"):
        assert cashier.get("/api/v1/cards/lookup/", {"q": query}).status_code in (200, 404)
    assert cashier.get("/api/v1/cards/lookup/", {"q": EMAIL}).status_code == 200
    erase_customer(customer=customer, reason="GDPR request")
    for query in (EMAIL, PHONE, "+33 6 98 76 54 32", card.qr_code_data):
        response = cashier.get("/api/v1/cards/lookup/", {"q": query})
        assert response.status_code == 404, query


def test_erasing_twice_changes_nothing(shop, member):
    customer, card = member
    first = erase_customer(customer=customer, reason="GDPR request")
    card.refresh_from_db()
    state = (Customer.objects.filter(pk=customer.pk).values().get(), card.qr_code_data, card.updated_at)
    updates = WalletUpdate.objects.count()
    second = erase_customer(customer=customer, reason="again")
    card.refresh_from_db()
    assert second.already_erased and second.erasure == first.erasure
    assert (Customer.objects.filter(pk=customer.pk).values().get(), card.qr_code_data, card.updated_at) == state
    assert Erasure.objects.count() == 1 and WalletUpdate.objects.count() == updates


def test_a_pending_email_to_them_is_not_sent(shop, member):
    customer, _ = member
    email = OutboundEmail.objects.create(
        merchant=shop["merchant"],
        customer=customer,
        kind="birthday",
        to_address=EMAIL,
        subject="Happy birthday",
        body_text="…",
    )
    erase_customer(customer=customer, reason="GDPR request")
    email.refresh_from_db()
    assert email.status == OutboundEmail.Status.FAILED and "erased" in email.last_error


def test_wallet_passes_are_revoked_at_google_and_apple(shop, member, google_wallet, apns):
    customer, card = member
    save_url(card)  # the customer saved it to Google Wallet
    AppleDeviceRegistration.objects.create(device_library_identifier="iphone", card=card, push_token="ab" * 32)
    assert delivery.deliver_pending(card.pk)
    google_wallet.reset()
    apns.requests.clear()

    erase_customer(customer=customer, reason="GDPR request")
    assert WalletUpdate.objects.filter(card=card, status=WalletUpdate.Status.PENDING).exists()
    assert delivery.deliver_pending(card.pk)

    patches = google_wallet.api_requests("PATCH", "loyaltyObject")
    assert [r.path for r in patches] == [f"loyaltyObject/{object_id(card)}"]
    assert patches[0].body["state"] == "INACTIVE"
    assert LAST_NAME not in str(patches[0].body)
    assert len(apns.pushes()) == 1, "a last push, so the device fetches the inactive pass"
    assert not AppleDeviceRegistration.objects.filter(card=card).exists(), "then the device is forgotten"


def test_the_api_erases_for_owners_only(shop, member):
    customer, card = member
    url = f"/api/v1/customers/{customer.pk}/erase/"
    for role in ("manager", "cashier"):
        response = api(shop[role].user).post(url, {"reason": "x"}, format="json")
        assert response.status_code == 403 and response.json()["error"]["code"] == "permission_denied"
    response = api(shop["owner"].user).post(url, {}, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "reason_required"
    response = api(shop["owner"].user).post(url, {"reason": "   "}, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "reason_required"
    outsider = StaffMemberFactory(role="owner")
    assert api(outsider.user).post(url, {"reason": "x"}, format="json").status_code == 404
    assert Customer.objects.get(pk=customer.pk).erased_at is None

    response = api(shop["owner"].user).post(url, {"reason": "Asked in store"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["already_erased"] is False and body["email"] == f"erased-{customer.pk}@invalid"
    assert body["erasure"]["erased_by"] == shop["owner"].user.username
    assert body["erasure"]["source"] == "api" and body["erasure"]["cards"] == 1
    again = api(shop["owner"].user).post(url, {"reason": "Asked in store"}, format="json")
    assert again.status_code == 200 and again.json()["already_erased"] is True


def test_the_admin_action_asks_for_a_reason_first(shop, member, client):
    customer, card = member
    other = make_card(program=shop["program"])
    changelist = "/admin/customers/customer/"
    client.force_login(shop["owner"].user)
    data = {"action": "erase_customers", "_selected_action": [customer.pk]}
    page = client.post(changelist, data)
    assert page.status_code == 200
    assert "Erase the personal data of 1 customer" in page.content.decode()
    assert Customer.objects.get(pk=customer.pk).erased_at is None
    missing = client.post(changelist, {**data, "confirm_erase": "1", "reason": ""})
    assert missing.status_code == 200 and "This field is required" in missing.content.decode()
    done = client.post(changelist, {**data, "confirm_erase": "1", "reason": "Asked by phone"}, follow=True)
    assert "Erased 1 customer(s)" in done.content.decode()
    assert Customer.objects.get(pk=customer.pk).erased_at is not None
    assert Erasure.objects.get().erased_by == shop["owner"].user
    assert Customer.objects.get(pk=other.customer_id).erased_at is None


def test_managers_do_not_get_the_erase_action(shop, member, client):
    customer, _ = member
    client.force_login(shop["manager"].user)
    page = client.get("/admin/customers/customer/")
    assert "erase_customers" not in page.content.decode()
    client.post(
        "/admin/customers/customer/",
        {"action": "erase_customers", "_selected_action": [customer.pk], "confirm_erase": "1", "reason": "x"},
    )
    assert Customer.objects.get(pk=customer.pk).erased_at is None


def test_another_merchants_customer_cannot_be_erased_from_the_admin(shop, member, client):
    outsider_card = make_card()
    client.force_login(shop["owner"].user)
    client.post(
        "/admin/customers/customer/",
        {
            "action": "erase_customers",
            "_selected_action": [outsider_card.customer_id],
            "confirm_erase": "1",
            "reason": "x",
        },
    )
    assert Customer.objects.get(pk=outsider_card.customer_id).erased_at is None


# --- retention ----------------------------------------------------------------------------------


@pytest.fixture
def aged(shop):
    """One customer inactive for two years, one active last week, one already erased."""
    import datetime

    from django.utils import timezone

    now = timezone.now()
    old = make_card(
        program=shop["program"], customer=CustomerFactory(merchant=shop["merchant"], email="old@example.com")
    )
    recent = make_card(
        program=shop["program"], customer=CustomerFactory(merchant=shop["merchant"], email="new@example.com")
    )
    long_ago = now - datetime.timedelta(days=800)
    Customer.objects.filter(pk__in=[old.customer_id, recent.customer_id]).update(created_at=long_ago)
    LoyaltyCard.objects.filter(pk=old.pk).update(last_activity_at=long_ago)
    LoyaltyCard.objects.filter(pk=recent.pk).update(last_activity_at=now - datetime.timedelta(days=7))
    return old, recent


def test_retention_is_off_unless_set(shop, aged, settings):
    settings.LOYALTY_RETENTION_DAYS = None
    out = io.StringIO()
    call_command("erase_inactive_customers", stdout=out)
    assert "not set" in out.getvalue()
    assert not Customer.objects.filter(erased_at__isnull=False).exists()


def test_retention_dry_run_lists_then_the_run_erases(shop, aged, settings):
    old, recent = aged
    settings.LOYALTY_RETENTION_DAYS = 730
    out = io.StringIO()
    call_command("erase_inactive_customers", dry_run=True, stdout=out)
    text = out.getvalue()
    assert f"customer {old.customer_id} (old@example.com)" in text and "new@example.com" not in text
    assert "1 customer(s) inactive for more than 730 days would be erased" in text
    assert not Customer.objects.filter(erased_at__isnull=False).exists()

    out = io.StringIO()
    call_command("erase_inactive_customers", stdout=out)
    assert "Erased 1 customer(s)" in out.getvalue()
    erased = Customer.objects.get(pk=old.customer_id)
    assert erased.email == f"erased-{erased.pk}@invalid"
    assert Erasure.objects.get().source == "retention" and "730 days" in Erasure.objects.get().reason
    assert Customer.objects.get(pk=recent.customer_id).erased_at is None
    out = io.StringIO()
    call_command("erase_inactive_customers", stdout=out)
    assert "Erased 0 customer(s)" in out.getvalue()


def test_the_monthly_job_is_scheduled_and_erases(shop, aged, settings):
    from django.conf import settings as live

    from customers.tasks import erase_inactive_customers

    entry = live.CELERY_BEAT_SCHEDULE["erase-inactive-customers-monthly"]
    assert entry["task"] == "customers.tasks.erase_inactive_customers"
    assert entry["schedule"].day_of_month == {1}
    settings.LOYALTY_RETENTION_DAYS = 365
    assert erase_inactive_customers.delay().get() == 1
    assert ContentType.objects.exists()
