"""Phones in E.164: "06 12 34 56 78" and "+33 6 12 34 56 78" are one phone, at enrollment and at the till."""

import importlib

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers import services
from customers.models import Customer
from customers.phones import stored_phone, to_e164
from loyalty.models import LoyaltyCard
from loyalty.selectors import card_by_number, find_cards
from tests.factories import CustomerFactory, MerchantFactory, ProgramFactory, StaffMemberFactory, make_card
from tests.loyalty.test_api_cards import client_for, error_of
from tests.support import postgres_only

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("typed", "country", "e164"),
    [
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("+33 6 12 34 56 78", "FR", "+33612345678"),
        ("0033 6.12.34.56.78", "FR", "+33612345678"),
        ("(06) 12-34-56-78", "FR", "+33612345678"),
        ("0470 12 34 56", "BE", "+32470123456"),
        ("+32 470 12 34 56", "FR", "+32470123456"),
        ("06 12 34 56 78", "BE", "+32612345678"),  # another phone in Belgium
        ("12345", "FR", None),
        ("not a phone", "FR", None),
    ],
)
def test_to_e164_reads_national_numbers_in_the_merchants_country(typed, country, e164):
    assert to_e164(typed, country) == e164
    assert stored_phone(typed, country) == (e164 or typed.strip())


def test_enrollment_stores_the_phone_in_e164_with_the_merchants_country():
    french = ProgramFactory().merchant
    belgian = ProgramFactory(merchant=MerchantFactory(country="BE")).merchant
    for merchant, typed, e164 in (
        (french, "06 12 34 56 78", "+33612345678"),
        (belgian, "0470/12.34.56", "+32470123456"),
    ):
        enrollment = services.enroll_customer(
            merchant=merchant, store=None, first_name="Ada", last_name="L", email="ada@example.com", phone=typed
        )
        assert enrollment.card.customer.phone == e164


def lookup(api, q):
    return api.get("/api/v1/cards/lookup/", {"q": q})


def test_national_and_international_input_find_the_same_card(program, cashier):
    card = make_card(program=program, customer=CustomerFactory(merchant=program.merchant, phone="+33612345678"))
    api = client_for(cashier)
    for typed in ("06 12 34 56 78", "+33 6 12 34 56 78", "0033612345678", "06.12.34.56.78"):
        response = lookup(api, typed)
        assert response.status_code == 200, typed
        assert response.json()["card_number"] == card.card_number
    error_of(lookup(api, "06 12 34 56 79"), 404, "card_not_found")


def test_a_belgian_merchant_reads_numbers_as_belgian():
    program = ProgramFactory(merchant=MerchantFactory(country="BE"))
    cashier = StaffMemberFactory(merchant=program.merchant)
    card = make_card(program=program, customer=CustomerFactory(merchant=program.merchant, phone="+32470123456"))
    api = client_for(cashier)
    for typed in ("0470 12 34 56", "+32 470 12 34 56", "0032470123456"):
        assert lookup(api, typed).json()["card_number"] == card.card_number, typed
    # A French national number means nothing in Belgium; a French customer is found by +33.
    french = make_card(program=program, customer=CustomerFactory(merchant=program.merchant, phone="+33612345678"))
    error_of(lookup(api, "06 12 34 56 78"), 404, "card_not_found")
    assert lookup(api, "+33 6 12 34 56 78").json()["card_number"] == french.card_number


def test_email_lookup_is_exact_on_the_lower_cased_email(program, cashier):
    card = make_card(program=program, customer=CustomerFactory(merchant=program.merchant, email="ada@example.com"))
    assert lookup(client_for(cashier), "  ADA@Example.COM ").json()["card_number"] == card.card_number


def test_the_migration_converts_existing_phones_with_each_merchants_country():
    migration = importlib.import_module("customers.migrations.0005_customer_phones_e164")
    french = MerchantFactory()
    belgian = MerchantFactory(country="BE")
    rows = {
        CustomerFactory(merchant=french, phone="06 12 34 56 78").pk: "+33612345678",
        CustomerFactory(merchant=french, phone="+33.6.11.22.33.44").pk: "+33611223344",
        CustomerFactory(merchant=french, phone="+33612345600").pk: "+33612345600",  # already E.164
        CustomerFactory(merchant=french, phone="call me").pk: "call me",  # unparseable: left alone
        CustomerFactory(merchant=french, phone="123").pk: "123",
        CustomerFactory(merchant=french, phone="").pk: "",
        CustomerFactory(merchant=belgian, phone="0470 12 34 56").pk: "+32470123456",
    }
    migration.phones_to_e164(apps, None)
    assert dict(Customer.objects.values_list("pk", "phone")) == rows


@postgres_only
@pytest.mark.parametrize(
    ("q", "index"), [("06 12 34 56 78", "customer_phone_idx"), ("ADA@Example.com", "customer_email")]
)
def test_phone_and_email_lookups_use_the_customer_indexes(program, cashier, q, index):
    card = make_card(
        program=program,
        customer=CustomerFactory(merchant=program.merchant, phone="+33612345678", email="ada@example.com"),
    )
    Customer.objects.bulk_create(
        Customer(
            merchant=program.merchant,
            first_name="C",
            last_name=str(n),
            email=f"c{n}@example.com",
            phone=f"+3361{n:07d}",
        )
        for n in range(500)
    )
    with CaptureQueriesContext(connection) as queries:
        assert [c.pk for c in find_cards(cashier.user, q)] == [card.pk]
    lookup_sql = next(query["sql"] for query in queries.captured_queries if "loyalty_loyaltycard" in query["sql"])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE customers_customer")
        cursor.execute("SET LOCAL enable_seqscan = off")  # a few hundred rows: show what the planner can use
        cursor.execute("EXPLAIN " + lookup_sql)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert index in plan, plan
    assert "REPLACE" not in lookup_sql.upper()


@postgres_only
@pytest.mark.parametrize(
    ("lookup", "index"),
    [
        ("number", "loyalty_loyaltycard_card_number"),
        ("qr", "loyalty_loyaltycard_qr_code_data"),
        ("qr_url", "loyalty_loyaltycard_qr_code_data"),
    ],
)
def test_card_number_and_qr_lookups_use_the_card_indexes(program, cashier, lookup, index):
    card = make_card(program=program)
    customers = Customer.objects.bulk_create(
        Customer(merchant=program.merchant, first_name="C", last_name=str(n), email=f"c{n}@example.com")
        for n in range(500)
    )
    LoyaltyCard.objects.bulk_create(
        LoyaltyCard(merchant=program.merchant, program=program, customer=customer) for customer in customers
    )
    compact = card.card_number.replace("-", "")
    with CaptureQueriesContext(connection) as queries:
        if lookup == "number":  # the till's card actions: POST /api/v1/cards/{number}/…
            assert card_by_number(cashier.user, compact) == card
        else:  # the lookup box: a scanned QR code, alone or as the card page's URL
            q = card.qr_code_data if lookup == "qr" else f"https://loyalty.example/card/{card.qr_code_data}/"
            assert find_cards(cashier.user, q) == [card]
    lookup_sql = next(query["sql"] for query in queries.captured_queries if "loyalty_loyaltycard" in query["sql"])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE loyalty_loyaltycard")
        cursor.execute("SET LOCAL enable_seqscan = off")  # a few hundred rows: show what the planner can use
        cursor.execute("EXPLAIN " + lookup_sql)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert index in plan, plan
    assert "Seq Scan on loyalty_loyaltycard" not in plan, plan
