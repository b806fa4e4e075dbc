"""The admin's cards, customers and ledger lists at a merchant's scale: what an owner types and sees.

Searches are read like the till reads a lookup (loyalty/admin_search.py) and stay inside the
owner's merchant; counts stop at a cap (merchants/admin_lists.py); bad input gets a clear answer.
The query plans are in tests/test_admin_query_plans.py.
"""

import time
from decimal import Decimal

import pytest
from django.contrib import admin
from django.db import connection
from django.db.models import Count
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from customers.models import Customer
from loyalty import services
from loyalty.models import LoyaltyCard, LoyaltyTransaction
from loyalty.selectors import Lookup, read_lookup
from merchants import admin_lists
from tests.factories import CustomerFactory, ProgramFactory, StaffMemberFactory, StoreFactory, UserFactory, make_card

pytestmark = pytest.mark.django_db

CARDS = "admin:loyalty_loyaltycard_changelist"
CUSTOMERS = "admin:customers_customer_changelist"
LEDGER = "admin:loyalty_loyaltytransaction_changelist"


@pytest.fixture
def world(db):
    """Two merchants, each with Ada Lovelace (same email and phone at both) and order ORDER-42."""
    sides = {}
    for key in ("a", "b"):
        program = ProgramFactory(merchant__name=f"Merchant {key.upper()}", welcome_bonus=10)
        store = StoreFactory(merchant=program.merchant, code=f"shop-{key}")
        owner = StaffMemberFactory(merchant=program.merchant, role="owner", stores=[store])
        ada = CustomerFactory(
            merchant=program.merchant, first_name="Ada", last_name="Lovelace", email="ada@example.com"
        )
        ada.phone = "+33612345678"
        ada.save(update_fields=["phone"])
        grace = CustomerFactory(merchant=program.merchant, first_name="Grace", last_name="Hopper")
        card = make_card(program=program, store=store, customer=ada)
        other = make_card(program=program, store=store, customer=grace)
        earn = services.earn_points(
            card=card, purchase_amount=Decimal("9"), store=store, staff_user=None, order_reference="ORDER-42"
        ).transaction
        sides[key] = {
            "program": program,
            "store": store,
            "owner": owner,
            "ada": ada,
            "grace": grace,
            "card": card,
            "other": other,
            "earn": earn,
        }
    return sides


def get_list(client, name, **params):
    response = client.get(reverse(name), params)
    assert response.status_code == 200, response
    return response


def rows(response) -> list:
    return list(response.context["cl"].result_list)


def notes(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def ledger_rows_of(card) -> set:
    return set(LoyaltyTransaction.objects.filter(card=card))


@pytest.mark.parametrize(
    "term",
    [
        "{number}",
        "{compact}",
        "{spaced}",
        "{qr}",
        "https://loyalty.example/card/{qr}/",
        "  ADA@Example.COM ",
        "06 12 34 56 78",
        "+33 6 12 34 56 78",
        "lov",
        "LOVELACE",
        "ada lov",
        "Lovelace Ada",
    ],
)
def test_each_kind_of_search_finds_the_owners_card_customer_and_ledger_only(client, world, term):
    own = world["a"]
    card = own["card"]
    compact = card.card_number.replace("-", "")
    term = term.format(
        number=card.card_number,
        compact=compact,
        spaced=f"{compact[:4]} {compact[4:8]} {compact[8:]}",
        qr=card.qr_code_data,
    )
    client.force_login(own["owner"].user)
    assert rows(get_list(client, CARDS, q=term)) == [card]
    assert rows(get_list(client, CUSTOMERS, q=term)) == [own["ada"]]
    assert set(rows(get_list(client, LEDGER, q=term))) == ledger_rows_of(card)


def test_another_merchants_card_email_or_order_finds_nothing(client, world):
    client.force_login(world["a"]["owner"].user)
    theirs = world["b"]["card"]
    for name in (CARDS, CUSTOMERS, LEDGER):
        assert rows(get_list(client, name, q=theirs.card_number)) == [], name
        assert rows(get_list(client, name, q=theirs.qr_code_data)) == [], name
    # The same email, phone and order reference exist at both merchants: only the owner's are found.
    assert rows(get_list(client, CUSTOMERS, q="ada@example.com")) == [world["a"]["ada"]]
    assert rows(get_list(client, CARDS, q="0612345678")) == [world["a"]["card"]]
    assert rows(get_list(client, LEDGER, q="ORDER-42")) == [world["a"]["earn"]]


def test_the_operator_searches_every_merchant(client, world):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    cards = {world["a"]["card"], world["b"]["card"]}
    assert set(rows(get_list(client, CARDS, q="ADA@example.com"))) == cards
    assert set(rows(get_list(client, CARDS, q="lovel"))) == cards
    assert {c.merchant for c in rows(get_list(client, CUSTOMERS, q="06 12 34 56 78"))} == {
        world["a"]["program"].merchant,
        world["b"]["program"].merchant,
    }
    assert set(rows(get_list(client, LEDGER, q="ORDER-42"))) == {world["a"]["earn"], world["b"]["earn"]}


def test_the_ledger_search_finds_an_order_reference_exactly(client, world):
    own = world["a"]
    for reference in ("ORD_1", "ORDX1", "ORD%2"):
        services.earn_points(
            card=own["other"], purchase_amount=Decimal("5"), store=None, staff_user=None, order_reference=reference
        )
    client.force_login(own["owner"].user)
    found = rows(get_list(client, LEDGER, q="ORD_1"))
    assert [row.order_reference for row in found] == ["ORD_1"]
    assert [row.order_reference for row in rows(get_list(client, LEDGER, q="ORD%2"))] == ["ORD%2"]
    assert rows(get_list(client, LEDGER, q="ORD")) == []  # a reference is matched whole, never as a prefix


def test_percent_and_underscore_are_plain_characters(client, world):
    own = world["a"]
    merchant = own["program"].merchant
    names = {name: CustomerFactory(merchant=merchant, last_name=name) for name in ("50%off", "50xoff", "A_B", "AxB")}
    client.force_login(own["owner"].user)
    assert rows(get_list(client, CUSTOMERS, q="50%")) == [names["50%off"]]
    assert rows(get_list(client, CUSTOMERS, q="a_b")) == [names["A_B"]]
    assert rows(get_list(client, CUSTOMERS, q="%")) == []
    assert rows(get_list(client, CUSTOMERS, q="_")) == []


@pytest.mark.parametrize("name", [CARDS, CUSTOMERS, LEDGER])
def test_a_10000_character_search_answers_at_once_with_a_clear_message(client, world, name):
    client.force_login(world["a"]["owner"].user)
    started = time.monotonic()
    with CaptureQueriesContext(connection) as queries:
        response = get_list(client, name, q="x" * 10_000)
    assert time.monotonic() - started < 2
    assert rows(response) == []
    assert notes(response) == [
        "Nothing was searched: the search has 10000 characters, at most 200 are read. "
        "Type a name, a card number, an email or a phone number."
    ]
    assert not [q["sql"] for q in queries.captured_queries if "LIKE" in q["sql"].upper()]


@pytest.mark.parametrize("term", ["ab\x00cd", "\x00", "   ", "ada\tlov"])
def test_control_characters_in_a_search_are_spaces(client, world, term):
    client.force_login(world["a"]["owner"].user)
    for name in (CARDS, CUSTOMERS, LEDGER):
        get_list(client, name, q=term)
    assert rows(get_list(client, CARDS, q="ada\tlov")) == [world["a"]["card"]]


@pytest.fixture
def small_pages(monkeypatch):
    """Two rows a page and a count that stops at four, so a few cards behave like half a million."""
    for model in (LoyaltyCard, Customer, LoyaltyTransaction):
        monkeypatch.setattr(admin.site._registry[model], "list_per_page", 2)
    monkeypatch.setattr(admin_lists, "COUNT_CAP", 4)


def add_cards(world, count):
    own = world["a"]
    for _ in range(count):
        make_card(
            program=own["program"], customer=CustomerFactory(merchant=own["program"].merchant, last_name="Member")
        )


def test_a_page_past_the_end_shows_the_last_page_and_says_so(client, world, small_pages):
    add_cards(world, 1)  # three cards: two pages, the count not capped
    client.force_login(world["a"]["owner"].user)
    response = get_list(client, CARDS, p="999999")
    assert response.context["cl"].page_num == 2
    assert len(rows(response)) == 1
    assert notes(response) == ["Page 999999 does not exist: the list has 2 pages. Here is the last one."]
    for page in ("-3", "0", "abc", "9" * 5000):
        response = get_list(client, CARDS, p=page)
        assert response.context["cl"].page_num in (1, 2), page
    # The search and filters stay (Django would redirect to the bare list with ?e=1).
    response = get_list(client, CARDS, p="7", q="lovelace")
    assert rows(response) == [world["a"]["card"]]


def test_the_pages_show_the_whole_list_in_its_order(client, world, small_pages):
    """A page's rows are read by id (admin_lists.page_by_ids): page after page, the list's own rows and order."""
    add_cards(world, 1)  # three cards: two pages of two
    own = world["a"]
    client.force_login(own["owner"].user)
    newest_first = list(LoyaltyCard.objects.filter(merchant=own["program"].merchant).order_by("-created_at", "-pk"))
    pages = [rows(get_list(client, CARDS, p=str(page))) for page in (1, 2)]
    assert pages == [newest_first[:2], newest_first[2:]]
    by_number = sorted(newest_first, key=lambda card: card.card_number)
    assert rows(get_list(client, CARDS, o="1", p="2")) == by_number[2:]
    ledger = list(LoyaltyTransaction.objects.filter(merchant=own["program"].merchant).order_by("-created_at", "-id"))
    assert rows(get_list(client, LEDGER, p="2")) == ledger[2:4]
    page = rows(get_list(client, CARDS, p="2"))
    with CaptureQueriesContext(connection) as queries:
        names = [card.customer.last_name for card in page]
    assert names and not queries.captured_queries  # each card's customer came with the page (select_related)


def test_a_page_by_ids_keeps_what_it_cannot_copy_as_a_plain_slice(world):
    cards = LoyaltyCard.objects.order_by("-created_at", "-pk")
    assert admin_lists.page_by_ids(cards.annotate(n=Count("transactions"))[1:2]).query.is_sliced
    assert admin_lists.page_by_ids(cards.distinct()[1:2]).query.is_sliced
    paged = admin_lists.page_by_ids(cards.select_related("customer")[1:3])
    assert not paged.query.is_sliced and list(paged) == list(cards[1:3])


def test_a_capped_count_reads_more_than_and_pages_stop_at_the_cap(client, world, small_pages):
    add_cards(world, 4)  # six cards: more than the cap of four
    client.force_login(world["a"]["owner"].user)
    response = get_list(client, CARDS)
    cl = response.context["cl"]
    assert (cl.result_count, cl.count_capped, cl.paginator.num_pages) == (4, True, 2)
    assert "more than 4 loyalty cards" in response.content.decode()
    response = get_list(client, CARDS, p="3")
    assert notes(response) == [
        "Only the first 4 rows are shown page by page (2 pages): narrow the list with the filters or the "
        "search to see the others."
    ]
    response = get_list(client, CUSTOMERS, q="a")
    assert "more than 4 results" in response.content.decode()
    response = client.get(reverse(CARDS), {"q": "a"}, HTTP_ACCEPT_LANGUAGE="fr")
    assert "plus de 4 résultats" in response.content.decode()


def test_select_all_acts_only_on_a_list_counted_whole(client, world, small_pages):
    add_cards(world, 4)
    client.force_login(world["a"]["owner"].user)
    page = [card.pk for card in rows(get_list(client, CARDS))]
    action = {"action": "deactivate_cards", "_selected_action": page, "select_across": "1", "index": "0"}
    response = client.post(reverse(CARDS), action, follow=True)
    assert "An action runs on at most 4 rows at once" in notes(response)[0]
    assert not LoyaltyCard.objects.filter(is_active=False).exists()
    # Narrowed to fewer rows than the cap, "select all" acts on all of them.
    client.post(f"{reverse(CARDS)}?q=lovelace", action)
    assert list(LoyaltyCard.objects.filter(is_active=False)) == [world["a"]["card"]]


def test_a_list_sorts_only_by_indexed_columns(client, world):
    client.force_login(world["a"]["owner"].user)
    # Owner's columns: checkbox, card number, customer, stamps, points, last activity, active.
    by_stamps = str(get_list(client, CARDS, o="3").context["cl"].queryset.query)
    assert "stamp_count" not in by_stamps.split("ORDER BY")[1]
    by_number = str(get_list(client, CARDS, o="1").context["cl"].queryset.query)
    assert "card_number" in by_number.split("ORDER BY")[1]
    ledger = get_list(client, LEDGER, o="3")  # the card column: a join and a sort of every row
    assert '"card_id"' not in str(ledger.context["cl"].queryset.query).split("ORDER BY")[1]


def test_another_merchants_store_in_the_url_finds_nothing(client, world):
    client.force_login(world["a"]["owner"].user)
    assert rows(get_list(client, LEDGER, store__id__exact=world["b"]["store"].pk)) == []
    own = rows(get_list(client, LEDGER, store__id__exact=world["a"]["store"].pk))
    assert own and {row.store for row in own} == {world["a"]["store"]}


def test_more_cards_than_the_ledger_shows_are_named_in_a_message(client, world, monkeypatch):
    monkeypatch.setattr("loyalty.admin_search.MAX_LEDGER_CARDS", 1)
    monkeypatch.setattr("loyalty.admin.ledger.MAX_LEDGER_CARDS", 1)
    merchant = world["a"]["program"].merchant
    make_card(program=world["a"]["program"], customer=CustomerFactory(merchant=merchant, last_name="Lovecraft"))
    client.force_login(world["a"]["owner"].user)
    response = get_list(client, LEDGER, q="love")
    assert notes(response) == [
        "More than 1 cards match “love”: these are the operations of the 1 most recently active. "
        "Type more of the name, or a card number, an email or a phone number."
    ]
    assert len({row.card_id for row in rows(response)}) == 1


def test_the_search_box_says_what_to_type_in_english_and_french(client, world):
    client.force_login(world["a"]["owner"].user)
    for name in (CARDS, CUSTOMERS, LEDGER):
        english = client.get(reverse(name)).content.decode()
        french = client.get(reverse(name), HTTP_ACCEPT_LANGUAGE="fr").content.decode()
        assert "Type a card number (with or without dashes)" in english, name
        assert "Tapez un numéro de carte (avec ou sans tirets)" in french, name
    assert "order reference" in client.get(reverse(LEDGER)).content.decode()


@pytest.mark.parametrize(
    ("typed", "kind", "value"),
    [
        ("1234-5678-9012", "card_number", "1234-5678-9012"),
        (" 1234 5678 9012 ", "card_number", "1234-5678-9012"),
        ("https://x.example/card/abc_DEF-123/", "qr", "abc_DEF-123"),
        ("A" * 32, "qr", "A" * 32),
        ("Ada@Example.com", "email", "ada@example.com"),
        ("06 12 34 56 78", "phone", "+33612345678"),
        ("Marie Mart", "text", "Marie Mart"),
        ("ORDER-42", "text", "ORDER-42"),
        ("50%", "text", "50%"),
    ],
)
def test_a_term_is_read_once_by_the_tills_rules(typed, kind, value):
    assert read_lookup(typed, "FR") == Lookup(kind, value)
