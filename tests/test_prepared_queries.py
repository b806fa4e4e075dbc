"""core/prepared.py: a query compiled once answers like the queryset it was built from."""

import pytest
from django.db.models import Count

from core.prepared import PreparedQuery
from loyalty import services
from loyalty.models import LoyaltyCard, LoyaltyTransaction
from tests.factories import make_card

pytestmark = pytest.mark.django_db

CARDS = PreparedQuery(
    lambda merchant_id, card_number: (
        LoyaltyCard.objects.select_related("program", "tier", "customer")
        .annotate(rows=Count("transactions"))
        .filter(merchant_id=merchant_id, card_number=card_number)
    ),
    merchant_id=int,
    card_number=str,
)


def test_it_answers_like_the_queryset_for_each_new_value(program, store):
    cards = [make_card(program=program, store=store) for _ in range(3)]
    services.add_stamp(card=cards[1], store=store, staff_user=None)
    for card in cards:  # compiled at the first, the same SQL with new values after
        (found,) = CARDS(merchant_id=card.merchant_id, card_number=card.card_number)
        expected = (
            LoyaltyCard.objects.select_related("program", "tier", "customer")
            .annotate(rows=Count("transactions"))
            .get(pk=card.pk)
        )
        assert [getattr(found, f.attname) for f in LoyaltyCard._meta.concrete_fields] == [
            getattr(expected, f.attname) for f in LoyaltyCard._meta.concrete_fields
        ]
        assert found.rows == expected.rows
        # select_related objects are loaded (no query to read them), a missing tier is None
        assert LoyaltyCard.program.is_cached(found) and LoyaltyCard.tier.is_cached(found)
        assert found.program == program and found.tier is None and found.customer == card.customer
        assert found._state.adding is False and found._state.db == "default"
    assert [c.rows for c in (CARDS(merchant_id=c.merchant_id, card_number=c.card_number)[0] for c in cards)] == [
        1,
        2,
        1,
    ]  # the welcome row of each, and the stamp


def test_no_match_is_an_empty_list(program):
    assert CARDS(merchant_id=program.merchant_id, card_number="0000-0000-0000") == []


def test_values_a_lookup_transforms_are_refused_when_compiled():
    query = PreparedQuery(lambda name: LoyaltyCard.objects.filter(customer__first_name__icontains=name), name=str)
    with pytest.raises(TypeError, match="plain parameters"):
        query(name="Ann")


def test_only_model_instances_without_prefetch():
    with pytest.raises(TypeError, match="values"):
        PreparedQuery(lambda pk: LoyaltyTransaction.objects.filter(pk=pk).values("pk"), pk=int)(pk=1)
    with pytest.raises(TypeError, match="prefetch_related"):
        PreparedQuery(lambda pk: LoyaltyCard.objects.prefetch_related("transactions").filter(pk=pk), pk=int)(pk=1)
    with pytest.raises(TypeError, match="int or a str"):
        PreparedQuery(lambda when: LoyaltyCard.objects.filter(created_at=when), when=float)
