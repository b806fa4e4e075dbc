"""Program and card edits the wallet pass shows schedule pass updates, set-based and in slices."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.errors import LoyaltyError
from loyalty import services
from loyalty.models import LoyaltyCard
from loyalty.services import programs
from tests.factories import CustomerFactory, ProgramFactory, RewardFactory, StoreFactory, make_card
from wallet.models import WalletUpdate


def pending() -> set[int]:
    return set(WalletUpdate.objects.filter(status="pending").values_list("card_id", flat=True))


def clear_outbox():
    WalletUpdate.objects.all().delete()


def test_program_change_refreshes_every_live_card_in_slices(
    db, wallet_on, monkeypatch, django_capture_on_commit_callbacks
):
    program = ProgramFactory()
    cards = [make_card(program=program) for _ in range(7)]
    gone = make_card(program=program)
    services.soft_delete_cards(card_ids=[gone.pk])
    elsewhere = make_card()
    clear_outbox()
    before = {c.pk: c.updated_at for c in LoyaltyCard.objects.all()}
    monkeypatch.setattr(programs, "ID_SLICE", 3)

    program.background_color = "#123456"
    with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks() as callbacks:
        assert services.update_program(program=program) == 7
    assert pending() == {c.pk for c in cards}
    assert len(callbacks) == 3  # one nudge per slice of 3, after commit
    card_updates = [q["sql"] for q in queries if q["sql"].startswith('UPDATE "loyalty_loyaltycard"')]
    assert len(card_updates) == 3 and all(" IN (" not in sql for sql in card_updates)  # ranges, not id lists
    after = {c.pk: c.updated_at for c in LoyaltyCard.objects.all()}
    assert all(after[c.pk] > before[c.pk] for c in cards)  # the Apple pass tag moved
    assert after[gone.pk] == before[gone.pk] and after[elsewhere.pk] == before[elsewhere.pk]


def test_program_change_the_pass_does_not_show_refreshes_nothing(card):
    clear_outbox()
    program = card.program
    program.stamp_cooldown_minutes = 15
    program.require_staff_pin = True
    assert services.update_program(program=program) == 0
    program.refresh_from_db()
    assert program.stamp_cooldown_minutes == 15
    assert pending() == set()


def test_rewards_refresh_their_program(card):
    clear_outbox()
    assert services.update_program(program=card.program, rewards_changed=True) == 1
    clear_outbox()
    reward = RewardFactory.build(program=card.program, name="Muffin")
    assert services.save_reward(reward=reward) == 1
    assert pending() == {card.pk}
    clear_outbox()
    assert services.delete_rewards(reward_ids=[reward.pk]) == 1
    assert pending() == {card.pk}


def test_card_service_goes_through_set_cards_active(card, wallet_on, store, django_capture_on_commit_callbacks):
    clear_outbox()
    with django_capture_on_commit_callbacks() as callbacks:
        assert services.update_card(card=card, is_active=False, enrolled_at_store=store) is True
    assert len(callbacks) == 1
    assert card.is_active is False and pending() == {card.pk}
    clear_outbox()
    assert services.update_card(card=card, is_active=False, enrolled_at_store=None) is False
    card.refresh_from_db()
    assert card.enrolled_at_store is None and pending() == set()


def test_card_service_refuses_another_merchants_store_and_reviving_a_deleted_card(card):
    with pytest.raises(LoyaltyError) as refused:
        services.update_card(card=card, is_active=True, enrolled_at_store=StoreFactory())
    assert refused.value.code == "unknown_store"
    services.soft_delete_cards(card_ids=[card.pk])
    clear_outbox()
    with pytest.raises(LoyaltyError) as refused:
        services.update_card(card=card, is_active=True, enrolled_at_store=None)
    assert refused.value.code == "card_deleted"
    card.refresh_from_db()
    assert card.is_active is False and pending() == set()


def test_customer_passes_follow_the_name(db):
    customer = CustomerFactory()
    card = make_card(customer=customer, program=ProgramFactory(merchant=customer.merchant))
    clear_outbox()
    assert services.refresh_customer_passes(customer_id=customer.pk) == 1
    assert pending() == {card.pk}
