import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from core.errors import LoyaltyError
from loyalty import services
from loyalty.models import LoyaltyCard, LoyaltyTransaction
from tests.factories import CustomerFactory, ProgramFactory, RewardFactory, StaffMemberFactory, StoreFactory, make_card
from wallet.models import WalletUpdate

Type = LoyaltyTransaction.Type


def refused(code, fn, **kwargs) -> LoyaltyError:
    with pytest.raises(LoyaltyError) as info:
        fn(**kwargs)
    assert info.value.code == code, info.value
    return info.value


def ledger(card):
    return list(card.transactions.order_by("id"))


# --- issue_card -----------------------------------------------------------------------


def test_issue_card_credits_welcome_bonus_with_ledger_row(db):
    program = ProgramFactory(welcome_bonus=25)
    store = StoreFactory(merchant=program.merchant)
    card = make_card(program=program, store=store)
    card.refresh_from_db()
    assert card.points_balance == 25
    assert card.lifetime_points_earned == 25
    assert card.enrolled_at_store == store
    [row] = ledger(card)
    assert (row.type, row.points_delta, row.points_after, row.stamps_after) == (Type.WELCOME_BONUS, 25, 25, 0)
    assert len(card.card_number) == 14 and card.card_number[4] == "-"


def test_issue_card_refuses_customer_of_another_merchant(db):
    program = ProgramFactory()
    stranger = CustomerFactory()  # another merchant
    refused("merchant_mismatch", services.issue_card, customer=stranger, program=program)
    assert not stranger.cards.exists()


def test_issue_card_refuses_second_card(db):
    card = make_card()
    error = refused("card_exists", services.issue_card, customer=card.customer, program=card.program)
    assert "already" in error.message
    assert card.customer.cards.count() == 1


def test_card_issued_again_after_a_deleted_one_gets_no_second_welcome_bonus(db):
    first = make_card(welcome_bonus=25)
    services.soft_delete_cards(card_ids=[first.pk])
    second = services.issue_card(customer=first.customer, program=first.program)
    second.refresh_from_db()
    assert second.pk != first.pk
    assert (second.points_balance, second.lifetime_points_earned) == (0, 0)
    [row] = ledger(second)
    assert (row.type, row.points_delta) == (Type.WELCOME_BONUS, 0)
    first.refresh_from_db()
    assert first.points_balance == 25  # the deleted card keeps its history


def test_stamps_program_gives_no_welcome_points(db):
    card = make_card(kind="stamps", welcome_bonus=30)
    assert card.points_balance == 0


# --- deactivating and deleting cards ---------------------------------------------------

# More ids than one statement may carry (65,535 parameters on PostgreSQL, 32,766 on SQLite), as an
# admin action on "all cards" of a large merchant sends; ids that match no card cost nothing to make.
MANY_IDS = list(range(10**9, 10**9 + 70_000))


def test_deactivate_and_reactivate_more_cards_than_one_statement_takes(db):
    cards = [make_card(), make_card()]
    ids = [*MANY_IDS, *(card.pk for card in cards)]
    assert services.set_cards_active(card_ids=ids, active=False) == 2
    assert not any(LoyaltyCard.objects.filter(pk__in=[c.pk for c in cards]).values_list("is_active", flat=True))
    assert services.set_cards_active(card_ids=ids, active=True) == 2
    assert services.set_cards_active(card_ids=ids, active=True) == 0  # nothing left to change


def test_soft_delete_more_cards_than_one_statement_takes(db):
    card = make_card()
    assert services.soft_delete_cards(card_ids=[card.pk, *MANY_IDS]) == 1
    card.refresh_from_db()
    assert card.deleted_at is not None and not card.is_active
    assert WalletUpdate.objects.filter(card=card).exists()


# --- stamps -----------------------------------------------------------------------------


def test_add_stamp_writes_ledger_and_balances(card, store, cashier):
    result = services.add_stamp(card=card, store=store, staff_user=cashier.user)
    assert result.card.stamp_count == 1 and result.card.lifetime_stamps == 1
    row = result.transaction
    assert (row.type, row.stamps_delta, row.stamps_after, row.store, row.staff_user) == (
        Type.STAMP,
        1,
        1,
        store,
        cashier.user,
    )
    card.refresh_from_db()
    assert card.stamp_count == 1 and card.last_stamp_at is not None


def test_stamp_cooldown(db):
    card = make_card(stamp_cooldown_minutes=10)
    now = timezone.now()
    services.add_stamp(card=card, store=None, staff_user=None, now=now)
    error = refused(
        "cooldown_active",
        services.add_stamp,
        card=card,
        store=None,
        staff_user=None,
        now=now + datetime.timedelta(minutes=9, seconds=30),
    )
    assert error.details["retry_after_seconds"] == 30
    services.add_stamp(card=card, store=None, staff_user=None, now=now + datetime.timedelta(minutes=10))
    card.refresh_from_db()
    assert card.stamp_count == 2


def test_stamp_daily_limit(db):
    card = make_card(max_stamps_per_day=2)
    for _ in range(2):
        services.add_stamp(card=card, store=None, staff_user=None)
    refused("daily_limit_reached", services.add_stamp, card=card, store=None, staff_user=None)
    card.refresh_from_db()
    assert card.stamp_count == 2 and card.transactions.filter(type=Type.STAMP).count() == 2


def test_stamp_refused_on_points_program_and_inactive_card(db):
    card = make_card(kind="points")
    refused("stamps_not_enabled", services.add_stamp, card=card, store=None, staff_user=None)
    card = make_card()
    card.is_active = False
    card.save()
    refused("card_inactive", services.add_stamp, card=card, store=None, staff_user=None)


def test_stamp_refused_at_store_of_another_merchant(card):
    other_store = StoreFactory()
    refused("unknown_store", services.add_stamp, card=card, store=other_store, staff_user=None)
    assert card.transactions.filter(type=Type.STAMP).count() == 0


def test_redeem_stamps(db):
    card = make_card(stamps_target=3)
    refused("insufficient_stamps", services.redeem_stamps, card=card, store=None, staff_user=None)
    for _ in range(4):
        services.add_stamp(card=card, store=None, staff_user=None)
    result = services.redeem_stamps(card=card, store=None, staff_user=None)
    assert result.card.stamp_count == 1 and result.card.rewards_redeemed == 1
    assert (result.transaction.stamps_delta, result.transaction.stamps_after) == (-3, 1)


# --- points -----------------------------------------------------------------------------


def test_earn_points_floors(db):
    card = make_card(points_per_euro=Decimal("1.50"))
    result = services.earn_points(
        card=card, purchase_amount=Decimal("12.99"), store=None, staff_user=None, order_reference="A-1"
    )
    assert result.transaction.points_delta == 19  # floor(19.485)
    assert result.card.points_balance == 19 and result.card.lifetime_points_earned == 19
    assert result.transaction.purchase_amount == Decimal("12.99")
    assert result.transaction.order_reference == "A-1"


def test_earn_below_min_purchase(db):
    card = make_card(min_purchase=Decimal("5.00"))
    error = refused(
        "below_min_purchase",
        services.earn_points,
        card=card,
        purchase_amount=Decimal("4.99"),
        store=None,
        staff_user=None,
    )
    assert "5.00" in error.message
    assert card.transactions.count() == 1  # the welcome row only


@pytest.mark.parametrize("amount", ["0", "-3", "12.345", "100000.01", "NaN", "Infinity", "abc"])
def test_earn_refuses_bad_amounts(db, amount):
    card = make_card()
    error = refused(
        "invalid_amount", services.earn_points, card=card, purchase_amount=amount, store=None, staff_user=None
    )
    assert error.status == 400
    card.refresh_from_db()
    assert card.points_balance == 0


def test_same_order_reference_earns_once_per_merchant(db):
    program = ProgramFactory()
    first, second = make_card(program=program), make_card(program=program)
    services.earn_points(card=first, purchase_amount=Decimal("10"), store=None, staff_user=None, order_reference="R-9")
    refused(
        "duplicate_order",
        services.earn_points,
        card=second,
        purchase_amount=Decimal("10"),
        store=None,
        staff_user=None,
        order_reference="R-9",
    )
    second.refresh_from_db()
    assert second.points_balance == 0
    # Another merchant may use the same reference.
    services.earn_points(
        card=make_card(), purchase_amount=Decimal("10"), store=None, staff_user=None, order_reference="R-9"
    )


def test_redeem_points_with_reward_or_amount(db):
    card = make_card()
    reward = RewardFactory(program=card.program, points_cost=30)
    services.earn_points(card=card, purchase_amount=Decimal("50"), store=None, staff_user=None)
    result = services.redeem_points(card=card, reward=reward, store=None, staff_user=None)
    assert result.card.points_balance == 20 and result.transaction.reward == reward
    assert result.transaction.points_delta == -30
    error = refused("insufficient_points", services.redeem_points, card=card, points=21, store=None, staff_user=None)
    assert error.details == {"points_balance": 20, "points_required": 21}
    result = services.redeem_points(card=card, points=20, store=None, staff_user=None)
    assert result.card.points_balance == 0 and result.card.lifetime_points_redeemed == 50


def test_redeem_refuses_reward_of_another_program_or_inactive(db):
    card = make_card()
    services.earn_points(card=card, purchase_amount=Decimal("500"), store=None, staff_user=None)
    refused("unknown_reward", services.redeem_points, card=card, reward=RewardFactory(), store=None, staff_user=None)
    inactive = RewardFactory(program=card.program, is_active=False)
    refused("unknown_reward", services.redeem_points, card=card, reward=inactive, store=None, staff_user=None)
    refused("invalid_amount", services.redeem_points, card=card, points=0, store=None, staff_user=None)
    refused("invalid_input", services.redeem_points, card=card, store=None, staff_user=None)


def test_void_against_earn_transaction(db):
    card = make_card()
    earn = services.earn_points(
        card=card, purchase_amount=Decimal("40"), store=None, staff_user=None, order_reference="O-1"
    ).transaction
    result = services.void_points(card=card, earn_transaction_id=earn.pk, store=None, staff_user=None)
    assert result.transaction.related_transaction == earn
    assert result.transaction.points_delta == -40 and result.card.points_balance == 0
    assert result.card.lifetime_points_voided == 40
    assert "O-1" in result.transaction.reason
    refused("already_voided", services.void_points, card=card, earn_transaction_id=earn.pk, store=None, staff_user=None)


def test_void_never_goes_below_zero(db):
    card = make_card()
    earn = services.earn_points(card=card, purchase_amount=Decimal("40"), store=None, staff_user=None).transaction
    services.redeem_points(card=card, points=30, store=None, staff_user=None)
    result = services.void_points(card=card, earn_transaction_id=earn.pk, store=None, staff_user=None)
    assert result.transaction.points_delta == -10 and result.card.points_balance == 0
    # A return is processed once, even when part of its points were already spent.
    refused("already_voided", services.void_points, card=card, earn_transaction_id=earn.pk, store=None, staff_user=None)
    refused("insufficient_points", services.void_points, card=card, points=1, reason="x", store=None, staff_user=None)


def test_void_of_earn_when_balance_is_zero_is_refused(db):
    card = make_card()
    earn = services.earn_points(card=card, purchase_amount=Decimal("40"), store=None, staff_user=None).transaction
    services.redeem_points(card=card, points=40, store=None, staff_user=None)
    refused(
        "insufficient_points", services.void_points, card=card, earn_transaction_id=earn.pk, store=None, staff_user=None
    )
    assert not earn.reversals.exists()


def test_void_amount_needs_reason_and_known_transaction(db):
    card = make_card(welcome_bonus=10)
    refused("reason_required", services.void_points, card=card, points=5, store=None, staff_user=None)
    refused(
        "unknown_transaction", services.void_points, card=card, earn_transaction_id=999999, store=None, staff_user=None
    )
    welcome = card.transactions.get()
    refused(
        "unknown_transaction",
        services.void_points,
        card=card,
        earn_transaction_id=welcome.pk,
        store=None,
        staff_user=None,
    )
    result = services.void_points(card=card, points=5, reason="goodwill reversed", store=None, staff_user=None)
    assert result.card.points_balance == 5


def test_adjust_requires_manager_and_reason(card, cashier, manager):
    refused(
        "permission_denied", services.adjust_balance, card=card, staff_user=cashier.user, reason="x", points_delta=5
    )
    refused("reason_required", services.adjust_balance, card=card, staff_user=manager.user, reason="  ", points_delta=5)
    refused("invalid_input", services.adjust_balance, card=card, staff_user=manager.user, reason="x")
    refused(
        "insufficient_points", services.adjust_balance, card=card, staff_user=manager.user, reason="x", points_delta=-1
    )
    refused(
        "invalid_amount", services.adjust_balance, card=card, staff_user=manager.user, reason="x", points_delta=10**9
    )
    result = services.adjust_balance(
        card=card, staff_user=manager.user, reason="paper card", points_delta=7, stamps_delta=2
    )
    row = result.transaction
    assert (row.type, row.points_delta, row.stamps_delta, row.points_after, row.stamps_after, row.reason) == (
        Type.POINTS_ADJUST,
        7,
        2,
        7,
        2,
        "paper card",
    )


def test_manager_of_another_merchant_cannot_adjust(card):
    outsider = StaffMemberFactory(role="owner")
    refused(
        "permission_denied", services.adjust_balance, card=card, staff_user=outsider.user, reason="x", points_delta=5
    )


# --- idempotency ----------------------------------------------------------------------------


def test_idempotency_key_replays_without_applying_twice(card, store):
    first = services.add_stamp(card=card, store=store, staff_user=None, idempotency_key="k-1")
    again = services.add_stamp(card=card, store=store, staff_user=None, idempotency_key="k-1")
    assert again.replayed and again.transaction.pk == first.transaction.pk
    card.refresh_from_db()
    assert card.stamp_count == 1


def test_idempotency_key_reused_for_another_operation_conflicts(card, store):
    services.add_stamp(card=card, store=store, staff_user=None, idempotency_key="k-2")
    refused(
        "idempotency_conflict",
        services.earn_points,
        card=card,
        purchase_amount=Decimal("5"),
        store=store,
        staff_user=None,
        idempotency_key="k-2",
    )
    other = make_card(program=card.program)
    refused("idempotency_conflict", services.add_stamp, card=other, store=store, staff_user=None, idempotency_key="k-2")


# --- outbox -------------------------------------------------------------------------------


def test_balance_change_records_one_pending_wallet_update_after_commit(
    card, wallet_on, store, django_capture_on_commit_callbacks
):
    WalletUpdate.objects.all().delete()
    with django_capture_on_commit_callbacks() as callbacks:
        services.add_stamp(card=card, store=store, staff_user=None)
        services.earn_points(card=card, purchase_amount=Decimal("3"), store=store, staff_user=None)
    assert WalletUpdate.objects.filter(card=card, status="pending").count() == 1  # coalesced
    assert len(callbacks) == 1  # the second change found the update pending: its nudge is on its way


def test_no_nudge_without_a_wallet_but_the_outbox_row_is_kept(card, store, django_capture_on_commit_callbacks):
    WalletUpdate.objects.all().delete()
    with django_capture_on_commit_callbacks() as callbacks:
        services.add_stamp(card=card, store=store, staff_user=None)
    assert callbacks == []  # no wallet is switched on: no pass to push, no message to Redis
    assert WalletUpdate.objects.filter(card=card, status="pending").count() == 1  # the sweep settles it


def test_the_card_its_ledger_row_and_its_outbox_row_are_written_together(card, store, cashier):
    # PostgreSQL writes the three in one statement (loyalty/services/ledger.py, record): what it
    # wrote must read back as the ORM would have written it, and a refused write leaves nothing.
    before = LoyaltyCard.objects.get(pk=card.pk).updated_at
    result = services.earn_points(
        card=card,
        purchase_amount=Decimal("12.34"),
        store=store,
        staff_user=cashier.user,
        order_reference="T-77",
        idempotency_key="k-77",
    )
    row = LoyaltyTransaction.objects.get(pk=result.transaction.pk)
    fields = [f.attname for f in LoyaltyTransaction._meta.concrete_fields]
    assert [getattr(row, name) for name in fields] == [getattr(result.transaction, name) for name in fields]
    assert (row.purchase_amount, row.order_reference, row.store_id, row.staff_user_id) == (
        Decimal("12.34"),
        "T-77",
        store.pk,
        cashier.user.pk,
    )
    saved = LoyaltyCard.objects.get(pk=card.pk)
    assert (saved.points_balance, saved.lifetime_points_earned) == (row.points_after, row.points_after)
    assert saved.last_activity_at == row.created_at and saved.updated_at > before
    assert WalletUpdate.objects.filter(card=card, status="pending").count() == 1
    refused(
        "duplicate_order",
        services.earn_points,
        card=card,
        purchase_amount=Decimal("5"),
        store=store,
        staff_user=None,
        order_reference="T-77",
    )
    assert LoyaltyCard.objects.get(pk=card.pk).points_balance == saved.points_balance  # the update went with it
    assert LoyaltyTransaction.objects.filter(card=card).count() == 2  # the welcome row and the earn


def test_refused_operation_schedules_nothing(card, store, django_capture_on_commit_callbacks):
    WalletUpdate.objects.all().delete()
    with django_capture_on_commit_callbacks() as callbacks:
        with pytest.raises(LoyaltyError):
            services.redeem_stamps(card=card, store=store, staff_user=None)
    assert callbacks == []
    assert not WalletUpdate.objects.exists()


def test_adjust_refuses_the_balance_a_program_does_not_keep(db):
    stamps_card = make_card(kind="stamps")
    stamps_owner = StaffMemberFactory(merchant=stamps_card.merchant, role="owner").user
    refused(
        "points_not_enabled",
        services.adjust_balance,
        card=stamps_card,
        staff_user=stamps_owner,
        reason="x",
        points_delta=5,
    )
    points_card = make_card(kind="points")
    points_owner = StaffMemberFactory(merchant=points_card.merchant, role="owner").user
    refused(
        "stamps_not_enabled",
        services.adjust_balance,
        card=points_card,
        staff_user=points_owner,
        reason="x",
        stamps_delta=2,
    )
    result = services.adjust_balance(card=stamps_card, staff_user=stamps_owner, reason="paper card", stamps_delta=2)
    assert result.card.stamp_count == 2
