"""Issuing cards (with the welcome bonus) and switching them off."""

from collections.abc import Iterator

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import conflict, invalid
from customers.models import Customer
from insights.enrollments import card_moved
from loyalty.models import LoyaltyCard, LoyaltyProgram
from loyalty.services.ledger import (
    Type,
    write_ledger,
)
from merchants.models import Store
from wallet.outbox import schedule_pass_updates


def issue_card(*, customer: Customer, program: LoyaltyProgram, store: Store | None = None) -> LoyaltyCard:
    """Create the customer's card on the program and credit the welcome bonus.

    The bonus is for joining, once per customer: a card issued after an earlier one was deleted
    starts at zero (its ledger still gets the welcome row, with no points), so leaving and
    joining again is not a way to collect it twice.
    """
    if customer.merchant_id != program.merchant_id:
        raise invalid("merchant_mismatch", "The customer and the program belong to different merchants.")
    if store is not None and store.merchant_id != program.merchant_id:
        raise invalid("unknown_store", "That store does not belong to this merchant.")
    with transaction.atomic():
        try:
            with transaction.atomic():
                card = LoyaltyCard.objects.create(
                    merchant_id=program.merchant_id, customer=customer, program=program, enrolled_at_store=store
                )
        except IntegrityError as exc:
            raise conflict("card_exists", "This customer already has a card at this merchant.") from exc
        rejoining = LoyaltyCard.objects.filter(customer=customer).exclude(pk=card.pk).exists()
        bonus = program.welcome_bonus if program.uses_points and not rejoining else 0
        if bonus:
            card.points_balance = bonus
            card.lifetime_points_earned = bonus
            card.last_points_at = card.last_activity_at
            card.save(update_fields=["points_balance", "lifetime_points_earned", "last_points_at", "updated_at"])
        write_ledger(card, Type.WELCOME_BONUS, points_delta=bonus, store=store)
        schedule_pass_updates([card.pk])
    return card


# A statement takes at most 65,535 parameters on PostgreSQL (32,766 on SQLite) and each id of an
# IN list is one: an admin action on "all 80,000 cards" goes through in slices.
ID_SLICE = 10_000


def id_slices(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), ID_SLICE):
        yield ids[start : start + ID_SLICE]


def set_cards_active(*, card_ids: list[int], active: bool) -> int:
    changed = []
    with transaction.atomic():
        for ids in id_slices(list(card_ids)):
            cards = LoyaltyCard.objects.filter(pk__in=ids, deleted_at__isnull=True).exclude(is_active=active)
            now_changed = list(cards.values_list("pk", flat=True))
            LoyaltyCard.objects.filter(pk__in=now_changed).update(is_active=active, updated_at=timezone.now())
            changed += now_changed
        schedule_pass_updates(changed)
    return len(changed)


def update_card(*, card: LoyaltyCard, is_active: bool, enrolled_at_store: Store | None) -> bool:
    """What the card form edits: the store the card was issued at and the active flag.

    The flag goes through ``set_cards_active`` (the wallet pass turns inactive or active
    again); the store is not on the pass. A deleted card stays inactive. Returns whether the
    active flag changed.
    """
    if enrolled_at_store is not None and enrolled_at_store.merchant_id != card.merchant_id:
        raise invalid("unknown_store", "That store does not belong to this merchant.")
    with transaction.atomic():
        stored = LoyaltyCard.objects.select_for_update().get(pk=card.pk)
        if is_active and stored.deleted_at is not None:
            raise conflict("card_deleted", "A deleted card cannot be reactivated.")
        store_id = enrolled_at_store.pk if enrolled_at_store is not None else None
        if stored.enrolled_at_store_id != store_id:
            # Not on the pass: a plain column update, the pass tag (updated_at) stays.
            LoyaltyCard.objects.filter(pk=card.pk).update(enrolled_at_store_id=store_id)
            # The insights count the card's enrollment at its store: the count moves with it.
            card_moved(card=stored, old_store_id=stored.enrolled_at_store_id, new_store_id=store_id)
        changed = set_cards_active(card_ids=[card.pk], active=is_active) > 0
    card.refresh_from_db(fields=["is_active", "enrolled_at_store", "updated_at"])
    return changed


def soft_delete_cards(*, card_ids: list[int]) -> int:
    """Delete cards for the customer while their ledger stays; the wallet pass turns inactive."""
    changed = []
    now = timezone.now()
    with transaction.atomic():
        for ids in id_slices(list(card_ids)):
            alive = LoyaltyCard.objects.filter(pk__in=ids, deleted_at__isnull=True)
            now_changed = list(alive.values_list("pk", flat=True))
            LoyaltyCard.objects.filter(pk__in=now_changed).update(deleted_at=now, is_active=False, updated_at=now)
            changed += now_changed
        schedule_pass_updates(changed)
    return len(changed)


def refresh_customer_passes(*, customer_id: int) -> int:
    """Schedule a pass update for the customer's live cards (their name is on the pass)."""
    live = LoyaltyCard.objects.filter(customer_id=customer_id, deleted_at__isnull=True)
    ids = list(live.values_list("pk", flat=True))
    if ids:
        live.filter(pk__in=ids).update(updated_at=timezone.now())
        schedule_pass_updates(ids)
    return len(ids)
