"""Many cashiers on one card at once: no lost update, nothing negative, ledger == balances."""

from decimal import Decimal

import pytest
from django.core.management import call_command

from core.errors import LoyaltyError
from loyalty import services
from loyalty.models import LoyaltyCard
from loyalty.selectors import cards_out_of_balance
from tests.factories import ProgramFactory, StaffMemberFactory, StoreFactory, make_card
from tests.support import postgres_only, run_concurrently

pytestmark = [postgres_only, pytest.mark.django_db(transaction=True)]


def test_sixty_threads_stamp_earn_redeem_void_one_card():
    program = ProgramFactory(stamps_target=3, welcome_bonus=0)
    store = StoreFactory(merchant=program.merchant)
    staff = StaffMemberFactory(merchant=program.merchant, role="manager", stores=[store]).user
    card = make_card(program=program, store=store)
    earn = services.earn_points(card=card, purchase_amount=Decimal("100"), store=store, staff_user=staff).transaction

    jobs = []
    for i in range(12):
        jobs.append(lambda: services.add_stamp(card=card, store=store, staff_user=staff))
        jobs.append(
            lambda i=i: services.earn_points(
                card=card, purchase_amount=Decimal("10.00"), store=store, staff_user=staff, order_reference=f"T-{i}"
            )
        )
        jobs.append(lambda: services.redeem_points(card=card, points=15, store=store, staff_user=staff))
        jobs.append(lambda: services.redeem_stamps(card=card, store=store, staff_user=staff))
    jobs += [lambda: services.void_points(card=card, earn_transaction_id=earn.pk, store=store, staff_user=staff)] * 5
    jobs += [lambda: services.void_points(card=card, points=7, reason="return", store=store, staff_user=staff)] * 5
    assert len(jobs) >= 50

    results = run_concurrently(jobs)

    unexpected = [r for r in results if isinstance(r, Exception) and not isinstance(r, LoyaltyError)]
    assert unexpected == []
    refusals = {r.code for r in results if isinstance(r, LoyaltyError)}
    assert refusals <= {"insufficient_points", "insufficient_stamps", "already_voided"}
    applied = [r for r in results if not isinstance(r, Exception)]

    card = LoyaltyCard.objects.get(pk=card.pk)
    assert card.points_balance >= 0 and card.stamp_count >= 0
    # No update lost: every applied operation is one ledger row and the balance is their sum.
    assert card.transactions.count() == 1 + 1 + len(applied)  # welcome row + first earn + applied
    assert card.points_balance == sum(card.transactions.values_list("points_delta", flat=True))
    assert card.stamp_count == sum(card.transactions.values_list("stamps_delta", flat=True))
    stamps = sum(1 for r in applied if r.transaction.type == "stamp")
    assert stamps == 12 and card.lifetime_stamps == 12
    # The earn was voided once only.
    assert sum(1 for r in applied if r.transaction.related_transaction_id == earn.pk) == 1
    assert not cards_out_of_balance().exists()
    call_command("verify_ledger")


def test_same_idempotency_key_from_many_threads_applies_once():
    card = make_card(program=ProgramFactory())
    results = run_concurrently(
        [lambda: services.add_stamp(card=card, store=None, staff_user=None, idempotency_key="tap-1")] * 20
    )
    assert not [r for r in results if isinstance(r, Exception)]
    assert len({r.transaction.pk for r in results}) == 1
    assert sum(not r.replayed for r in results) == 1
    card.refresh_from_db()
    assert card.stamp_count == 1


def test_same_key_from_many_threads_with_a_cooldown_all_get_the_first_stamp():
    # The repeats wait on the card's lock, then meet the cooldown the first one started: each is
    # answered with the first stamp (the ledger holds the key), none with "cooldown_active".
    card = make_card(program=ProgramFactory(stamp_cooldown_minutes=10))
    results = run_concurrently(
        [lambda: services.add_stamp(card=card, store=None, staff_user=None, idempotency_key="tap-2")] * 12
    )
    assert not [r for r in results if isinstance(r, Exception)], results
    assert len({r.transaction.pk for r in results}) == 1
    assert sum(not r.replayed for r in results) == 1
    card.refresh_from_db()
    assert card.stamp_count == 1


def test_one_order_reference_on_two_cards_at_once_earns_once():
    program = ProgramFactory()
    cards = [make_card(program=program) for _ in range(10)]
    results = run_concurrently(
        [
            lambda c=c: services.earn_points(
                card=c, purchase_amount=Decimal("5"), store=None, staff_user=None, order_reference="SAME"
            )
            for c in cards
        ]
    )
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert {r.code for r in results if isinstance(r, Exception)} == {"duplicate_order"}
    assert sum(LoyaltyCard.objects.filter(pk__in=[c.pk for c in cards]).values_list("points_balance", flat=True)) == 5
