"""The admin's search box for cards, customers and the ledger, answered by an index at any size.

What the owner typed is read once, by the till's rules (``read_lookup`` in loyalty/selectors.py):
a card number (with or without dashes), a card's QR code, an email or a phone (read with the
merchant's country) is matched exactly; anything else is the start of a first or last name
("mar", "Marie Mart"), which the (merchant, UPPER(name)) indexes of customers/models.py answer.
The ledger finds the matching cards first and then their rows by card id, and also matches an
order reference exactly. Django's own search (``icontains`` over several columns) read every row
of the merchant. ``%`` and ``_`` are plain characters (Django escapes them in ``istartswith``; the
``upper_prefix`` lookup of core/indexes.py is ``istartswith`` that the name indexes answer under any plan).
"""

from django.contrib import messages
from django.contrib.admin.views.main import SEARCH_VAR
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.plans import planned_for_values
from customers.models import Customer
from loyalty.models import LoyaltyCard, LoyaltyTransaction
from loyalty.selectors import Lookup, merchant_country, read_lookup
from merchants.admin_lists import LargeListAdmin
from merchants.models import Merchant
from merchants.selectors import merchant_ids_for, scoped

MAX_TERM_LENGTH = 200
# The ledger shows the rows of at most this many matching cards (a name prefix can match thousands).
MAX_LEDGER_CARDS = 100
# Up to this many matching customers, their ids are read first and their cards found by customer id.
MAX_LISTED_CUSTOMERS = 5000
ORDER_REFERENCE_LENGTH = LoyaltyTransaction._meta.get_field("order_reference").max_length

SEARCH_HELP = gettext_lazy(
    "Type a card number (with or without dashes), a QR code, an email, a phone number, or the start of "
    "a first or last name (“mar”, “Marie Mart”). At most 200 characters."
)
LEDGER_SEARCH_HELP = gettext_lazy(
    "Type a card number (with or without dashes), a QR code, an email or a phone number to see that card's "
    "operations, an order reference, or the start of the card holder's first or last name. At most 200 characters."
)


def name_starts_with(term: str) -> Q:
    """First or last name starting with ``term``, any case; "Marie Mart" is also first name "Marie" and last
    name "Mart…" (or the other way round). Each alternative is a prefix the name indexes answer."""
    match = Q(first_name__upper_prefix=term) | Q(last_name__upper_prefix=term)
    head, _space, tail = term.partition(" ")
    if tail:
        match |= Q(first_name__upper_prefix=head, last_name__upper_prefix=tail)
        match |= Q(last_name__upper_prefix=head, first_name__upper_prefix=tail)
    return match


def searched_merchant_ids(user: AbstractBaseUser) -> list[int]:
    """The user's merchant, or every merchant for the operator (one query): the email, phone, name and order
    reference indexes start with the merchant, and PostgreSQL uses them only when the merchants are named."""
    ids = merchant_ids_for(user)
    return ids if ids is not None else list(Merchant.objects.values_list("pk", flat=True))


def search_customers(customers: QuerySet[Customer], lookup: Lookup, user: AbstractBaseUser) -> QuerySet[Customer]:
    if lookup.kind in ("card_number", "qr"):
        cards = search_cards(scoped(LoyaltyCard, user), lookup, user)
        return customers.filter(pk__in=cards.values("customer_id"))
    customers = customers.filter(merchant_id__in=searched_merchant_ids(user))
    if lookup.kind in ("email", "phone"):
        return customers.filter(**{lookup.kind: lookup.value})
    return customers.filter(name_starts_with(lookup.value))


def search_cards(cards: QuerySet[LoyaltyCard], lookup: Lookup, user: AbstractBaseUser) -> QuerySet[LoyaltyCard]:
    if lookup.kind == "card_number":
        return cards.filter(card_number=lookup.value)
    if lookup.kind == "qr":
        return cards.filter(qr_code_data=lookup.value)
    # Through the user's merchant's customers, so the (merchant, email|phone|name) indexes answer. Their ids
    # come first, in a query of their own: with a subquery, PostgreSQL may instead walk the merchant's
    # newest cards and test each one's customer, betting that 50 matches come soon. For a name that
    # 2,675 of 500,000 cards hold, its parallel workers read 480,000 cards (654 ms; by ids, see README).
    customers = search_customers(scoped(Customer, user), lookup, user)
    ids = list(customers.order_by().values_list("pk", flat=True)[: MAX_LISTED_CUSTOMERS + 1])
    if len(ids) <= MAX_LISTED_CUSTOMERS:
        return cards.filter(customer_id__in=ids)
    return cards.filter(customer__in=customers)  # so common a start that matches come soon in any order


def search_ledger(
    rows: QuerySet[LoyaltyTransaction], lookup: Lookup, user: AbstractBaseUser, term: str
) -> tuple[QuerySet[LoyaltyTransaction], bool]:
    """The rows of the cards ``lookup`` finds (at most MAX_LEDGER_CARDS) and the earn of order ``term``.

    The card ids are read first, in their own query: filtering the ledger by a list of ids lets the
    (card, created_at) index answer, where a subquery ORed with the order reference would make
    PostgreSQL walk the merchant's whole ledger. True as second value: more cards matched.
    """
    merchant_ids = searched_merchant_ids(user)
    cards = search_cards(scoped(LoyaltyCard, user), lookup, user)
    # The most recently active cards ((merchant, last_activity_at) index); the operator's, the newest (primary key).
    recent = "-last_activity_at" if merchant_ids_for(user) is not None else "-pk"
    card_ids = list(cards.order_by(recent).values_list("pk", flat=True)[: MAX_LEDGER_CARDS + 1])
    match = Q(card_id__in=card_ids[:MAX_LEDGER_CARDS])
    if len(term) <= ORDER_REFERENCE_LENGTH:
        # Only earns carry an order reference: the (merchant, order_reference) unique index answers.
        match |= Q(merchant_id__in=merchant_ids, type=LoyaltyTransaction.Type.POINTS_EARN, order_reference=term) & ~Q(
            order_reference=""
        )
    return rows.filter(match), len(card_ids) > MAX_LEDGER_CARDS


def clean_term(term: str) -> str:
    """What was typed, with control characters (a NUL from a pasted value) as spaces, trimmed."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in term).split())


class IndexedSearchAdmin(LargeListAdmin):
    """A large list whose search box is answered by an index: ``search_lookup`` filters for a read term."""

    search_fields = ["-"]  # Django shows the search box when this is not empty; the search is ours.
    search_help_text = SEARCH_HELP

    def search_lookup(self, request, queryset: QuerySet, lookup: Lookup, term: str) -> QuerySet:
        # Each list says how it is searched (cards, customers, ledger); this base has no rows of its own.
        raise NotImplementedError(f"{type(self).__name__} must define search_lookup()")

    def changelist_view(self, request, extra_context=None):
        # A search's rows depend on what was typed: "Ma" (61,000 customers) took 300 ms on a generic plan.
        if not request.GET.get(SEARCH_VAR):
            return super().changelist_view(request, extra_context)
        with planned_for_values():
            return super().changelist_view(request, extra_context)

    def get_search_results(self, request, queryset, search_term):
        term = clean_term(search_term or "")
        if not term:
            return queryset, False
        if len(term) > MAX_TERM_LENGTH:
            self.note(
                request,
                _(
                    "Nothing was searched: the search has %(length)s characters, at most %(max)s are read. "
                    "Type a name, a card number, an email or a phone number."
                )
                % {"length": len(term), "max": MAX_TERM_LENGTH},
            )
            return queryset.none(), False
        lookup = read_lookup(term, merchant_country(request.user))
        return self.search_lookup(request, queryset, lookup, term), False

    def note(self, request, message: str) -> None:
        # Once per request: the change list may run the search twice (the list, then an action).
        notes = request.__dict__.setdefault("_search_notes", set())
        if message not in notes:
            notes.add(message)
            self.message_user(request, message, messages.WARNING)
