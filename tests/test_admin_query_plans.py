"""What the admin's cards, customers and ledger lists ask the database: an index, a fixed number of queries.

The plans are read from the SQL the admin really runs for a request. The tables here hold a few
thousand rows, which PostgreSQL reads whole whatever the indexes; so each plan is read with
``enable_seqscan = off``, which shows the index the planner can use, as it does at 10 million rows.
A plan that still says "Seq Scan" on a big table had no index to use.
"""

import datetime
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from customers.models import Customer
from loyalty import services
from loyalty.models import LoyaltyCard, LoyaltyTransaction
from tests.factories import (
    CustomerFactory,
    ProgramFactory,
    StaffMemberFactory,
    StoreFactory,
    UserFactory,
    make_card,
)
from tests.support import ON_POSTGRES, plan_cache_modes

pytestmark = pytest.mark.django_db

CARDS = "admin:loyalty_loyaltycard_changelist"
CUSTOMERS = "admin:customers_customer_changelist"
LEDGER = "admin:loyalty_loyaltytransaction_changelist"
BIG_TABLES = ("customers_customer", "loyalty_loyaltycard", "loyalty_loyaltytransaction")
postgres_plans = pytest.mark.skipif(not ON_POSTGRES, reason="reads PostgreSQL's query plans (EXPLAIN)")
LAST_NAMES = ["Martin", "Bernard", "Dubois", "Moreau", "Laurent", "Lefebvre", "Garcia", "Roux", "Fournier", "Zola"]


@pytest.fixture
def shop(db):
    """A merchant with one known member (Ada Lovelace, order ORDER-42) and its owner."""
    program = ProgramFactory(welcome_bonus=10)
    store = StoreFactory(merchant=program.merchant)
    owner = StaffMemberFactory(merchant=program.merchant, role="owner", stores=[store])
    ada = CustomerFactory(merchant=program.merchant, first_name="Ada", last_name="Lovelace", email="ada@example.com")
    Customer.objects.filter(pk=ada.pk).update(phone="+33612345678")
    card = make_card(program=program, store=store, customer=ada)
    services.earn_points(card=card, purchase_amount=9, store=store, staff_user=None, order_reference="ORDER-42")
    return {"program": program, "store": store, "owner": owner, "card": card}


def add_members(program, store, count: int, ledger_rows_each: int = 3) -> None:
    """``count`` customers with cards and a few ledger rows each, written in bulk."""
    merchant = program.merchant
    start = Customer.objects.count()
    customers = Customer.objects.bulk_create(
        Customer(
            merchant=merchant,
            first_name=f"First{n % 97}",
            last_name=f"{LAST_NAMES[n % len(LAST_NAMES)]}{n}",
            email=f"member{n}@example.com",
            phone=f"+3361{n:07d}",
        )
        for n in range(start, start + count)
    )
    cards = LoyaltyCard.objects.bulk_create(
        LoyaltyCard(merchant=merchant, program=program, customer=customer) for customer in customers
    )
    LoyaltyTransaction.objects.bulk_create(
        LoyaltyTransaction(
            card=card,
            merchant=merchant,
            store=store,
            type=LoyaltyTransaction.Type.STAMP,
            stamps_delta=1,
            stamps_after=1,
            points_after=0,
        )
        for card in cards
        for _ in range(ledger_rows_each)
    )


def list_page_queries(client, name, **params) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse(name), params)
    assert response.status_code == 200
    return [query["sql"] for query in queries.captured_queries]


def plans_of(statements: list[str]) -> str:
    """The plans of the statements that read a big table, with sequential scans off (see the docstring)."""
    plans = []
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        for sql in statements:
            if any(f'"{table}"' in sql for table in BIG_TABLES):
                cursor.execute("EXPLAIN " + sql)
                plans.append("\n".join(row[0] for row in cursor.fetchall()))
    return "\n\n".join(plans)


@postgres_plans
@pytest.mark.parametrize(
    ("name", "term", "index"),
    [
        (CARDS, None, "card_created_customer_idx"),
        (CUSTOMERS, None, "customer_merchant_created_idx"),
        (LEDGER, None, "ledger_merchant_created_id_idx"),
        (CARDS, "mart", "customer_(last|first)_name_prefix_idx"),
        (CUSTOMERS, "Ada Lov", "customer_(last|first)_name_prefix_idx"),
        (LEDGER, "zola", "customer_(last|first)_name_prefix_idx"),
        (CUSTOMERS, "ADA@example.com", "customer_email_idx"),
        (CARDS, "ada@example.com", "customer_email_idx"),
        (CARDS, "06 12 34 56 78", "customer_phone_idx"),
        (LEDGER, "+33 6 12 34 56 78", "customer_phone_idx"),
        (CARDS, "{number}", "loyalty_loyaltycard_card_number"),
        (CUSTOMERS, "{number}", "loyalty_loyaltycard_card_number"),
        (LEDGER, "{number}", "loyalty_loyaltycard_card_number"),
        (LEDGER, "{number}", "ledger_card_created_id_idx"),
        (LEDGER, "ORDER-42", "ledger_order_reference_earns_once"),
        (CARDS, "{qr}", "loyalty_loyaltycard_qr_code_data"),
    ],
)
def test_admin_lists_and_searches_read_an_index_not_every_row(client, shop, name, term, index):
    add_members(shop["program"], shop["store"], 2000)
    other = ProgramFactory()
    add_members(other, StoreFactory(merchant=other.merchant), 500)
    with connection.cursor() as cursor:
        for table in BIG_TABLES:
            cursor.execute(f"ANALYZE {table}")
    client.force_login(shop["owner"].user)
    params = {}
    if term is not None:
        params["q"] = term.format(number=shop["card"].card_number, qr=shop["card"].qr_code_data)
    plans = plans_of(list_page_queries(client, name, **params))
    for table in BIG_TABLES:
        assert f"Seq Scan on {table}" not in plans, plans
    assert re.search(index, plans), plans


@postgres_plans
@pytest.mark.parametrize(
    ("path", "filters"),
    [
        (LEDGER, {"type__exact": "points_expire"}),  # a rare operation
        (LEDGER, {"store__id__exact": "{store}"}),
        (LEDGER, {"created_at__gte": "2026-01-01 00:00:00+00:00", "created_at__lt": "2026-02-01 00:00:00+00:00"}),
        (CARDS, {"is_active__exact": "0"}),
    ],
)
def test_admin_filters_read_an_index(client, shop, path, filters):
    add_members(shop["program"], shop["store"], 1000)
    with connection.cursor() as cursor:
        for table in BIG_TABLES:
            cursor.execute(f"ANALYZE {table}")
    client.force_login(shop["owner"].user)
    params = {key: value.format(store=shop["store"].pk) for key, value in filters.items()}
    plans = plans_of(list_page_queries(client, path, **params))
    for table in BIG_TABLES:
        assert f"Seq Scan on {table}" not in plans, plans


def expire_at_one_instant(program, store, rows: int) -> None:
    """What the nightly expiry leaves: ``rows`` ledger rows written at the same instant, the newest of the ledger."""
    instant = timezone.now() + datetime.timedelta(days=1)
    LoyaltyTransaction.objects.bulk_create(
        LoyaltyTransaction(
            card=card,
            merchant=program.merchant,
            store=store,
            type=LoyaltyTransaction.Type.POINTS_EXPIRE,
            points_delta=-1,
            stamps_after=0,
            points_after=0,
            created_at=instant,
        )
        for card in LoyaltyCard.objects.filter(program=program)[:rows]
    )


def page_plan(statements: list[str]) -> str:
    """The plan of the statement that reads the list's page (ordered, limited), with sequential and bitmap scans
    and sorts off: a few thousand rows are cheaper read whole and sorted, which says nothing of 10 million;
    without an index in the list's order the plan still sorts."""
    (page,) = [sql for sql in statements if '"loyalty_loyaltytransaction"' in sql and "ORDER BY" in sql]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
    return plans_of([page])


@postgres_plans
@pytest.mark.parametrize(
    ("filters", "index", "operator"),
    [
        ({}, "ledger_(merchant_)?created_id_idx", False),  # the merchant holds nearly every row here
        ({"type__exact": "points_expire"}, "ledger_merchant_type_id_idx", False),
        ({"store__id__exact": "{store}"}, "ledger_(store_)?created_id_idx", False),  # one store holds them all
        ({}, "ledger_created_id_idx", True),
    ],
)
def test_a_ledger_page_is_read_in_the_index_order_and_stops(client, shop, filters, index, operator):
    """Newest first is (created_at, id) descending. An index on created_at alone left the id to a sort: a
    page of the rows of one instant (the nightly expiry's, 100,000 at once) read and sorted all of them."""
    add_members(shop["program"], shop["store"], 1000, ledger_rows_each=1)
    expire_at_one_instant(shop["program"], shop["store"], 900)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE loyalty_loyaltytransaction")
    client.force_login(UserFactory(is_staff=True, is_superuser=True) if operator else shop["owner"].user)
    params = {key: value.format(store=shop["store"].pk) for key, value in filters.items()}
    plan = page_plan(list_page_queries(client, LEDGER, **params))
    # The page's ids: a Limit right on the index scan (no sort of the rows of one instant); the outer query
    # then reads those 50 rows by primary key (merchants/admin_lists.py, page_by_ids).
    assert "Incremental Sort" not in plan, plan
    assert re.search(rf"Limit .*\n\s*->  Index (Only )?Scan using {index} on loyalty_loyaltytransaction", plan), plan


# An owner's list page: session, user, staff membership (the merchant), the user's and groups'
# permissions (Django's), the capped count, the page (with its related rows joined), and for cards
# and the ledger the store filter's choices. Not one more with more rows.
LIST_QUERIES = {CARDS: 8, CUSTOMERS: 7, LEDGER: 8}


@pytest.mark.parametrize("name", [CARDS, CUSTOMERS, LEDGER])
def test_a_list_page_runs_the_same_queries_at_any_size(client, shop, name, django_assert_num_queries):
    client.force_login(shop["owner"].user)
    client.get(reverse(name))  # the session's first read
    with django_assert_num_queries(LIST_QUERIES[name]):
        client.get(reverse(name))
    add_members(shop["program"], shop["store"], 120)
    with django_assert_num_queries(LIST_QUERIES[name]):
        response = client.get(reverse(name))
    assert len(response.context["cl"].result_list) == 50


def generic_plan(queryset) -> str:
    """The plan PostgreSQL keeps for ``queryset``'s statement once prepared and planned generically (its
    values unknown): what a connection runs after psycopg has prepared the statement and it ran 5 times."""
    import psycopg.sql

    sql, params = queryset.query.sql_with_params()
    numbered = sql.replace("%%", "\0")
    for n in range(1, len(params) + 1):
        numbered = numbered.replace("%s", f"${n}", 1)
    arguments = psycopg.sql.SQL(", ").join(psycopg.sql.Literal(value) for value in params)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute("SET LOCAL enable_seqscan = off")  # a few thousand rows: see the module's docstring
        cursor.execute(f"PREPARE name_search AS {numbered.replace(chr(0), '%')}")
        try:
            cursor.execute(f"EXPLAIN EXECUTE name_search({arguments.as_string(connection.connection)})")
            return "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("DEALLOCATE name_search")


@postgres_plans
@pytest.mark.parametrize("lookup", ["upper_prefix", "istartswith"])
def test_a_name_prefix_is_an_index_range_in_a_generic_plan_too(shop, lookup):
    """``istartswith`` gives the name index a range only when the planner sees the pattern: its generic plan
    read every customer of the merchant (300 ms at 500,000). ``upper_prefix`` states the range itself."""
    add_members(shop["program"], shop["store"], 1000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE customers_customer")
    customers = Customer.objects.filter(merchant=shop["program"].merchant, **{f"last_name__{lookup}": "zola1"})

    plan = generic_plan(customers.values("pk"))

    ranged = re.search(r"customer_last_name_prefix_idx .*\n.*Index Cond: .*~>=~ upper\(\$\d\).*~<=~", plan)
    assert bool(ranged) == (lookup == "upper_prefix"), plan


@pytest.mark.parametrize("term", ["zola1", "ZOLA", "Élo", "o'b", "50%", "a_b", "x", "Zola19"])
def test_a_name_prefix_matches_what_istartswith_matches(shop, term):
    merchant = shop["program"].merchant
    add_members(shop["program"], shop["store"], 300)
    for last_name in ["Éloi", "élodie", "O'Brien", "50% off", "50 Cent", "A_Baker", "Abaker", "xavier"]:
        CustomerFactory(merchant=merchant, last_name=last_name)
    customers = Customer.objects.filter(merchant=merchant).order_by("pk")

    found = list(customers.filter(last_name__upper_prefix=term).values_list("last_name", flat=True))

    assert found == list(customers.filter(last_name__istartswith=term).values_list("last_name", flat=True))
    assert found  # each term matches someone


@postgres_plans
@pytest.mark.parametrize("name", [CARDS, CUSTOMERS, LEDGER])
def test_a_search_is_planned_for_what_was_typed(client, shop, name):
    """Even on a connection whose prepared statements went generic: the search's queries run with
    plan_cache_mode force_custom_plan ("Ma", 61,000 customers of 500,000: 300 ms generic, 110 custom)."""
    client.force_login(shop["owner"].user)
    with plan_cache_modes("customers_customer", "loyalty_loyaltycard") as modes:
        assert client.get(reverse(name)).status_code == 200
        plain, modes[:] = list(modes), []
        assert client.get(reverse(name), {"q": "zola1"}).status_code == 200

    assert plain and set(plain) == {"force_generic_plan"}  # a list without a search is left as it is
    assert modes and set(modes) == {"force_custom_plan"}
