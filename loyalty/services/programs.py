"""Editing a program, its rewards and its merchant's name: what the wallet passes show.

A change the pass shows (name, kind, stamp rule, branding, logo, rewards, the merchant's
name) schedules a pass update for every live card of the program, in slices: a program may
have hundreds of thousands of cards, so no model object is built per card and no statement
carries more than a few parameters (the outbox insert takes the slice's ids as one array on
PostgreSQL).
"""

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from loyalty.models import LoyaltyCard, LoyaltyProgram, Reward
from loyalty.services.cards import ID_SLICE
from merchants.models import Merchant
from wallet.outbox import schedule_pass_updates

# The program fields a wallet pass (or its Google class, or its images) is drawn from.
PASS_VISIBLE_PROGRAM_FIELDS = (
    "name",
    "kind",
    "stamps_target",
    "stamp_reward_description",
    "stamp_reward_description_fr",
    # The points expiry the pass announces (wallet/notices.py).
    "points_expiry_days",
    "expiry_reminder_days",
    "background_color",
    "foreground_color",
    "label_color",
    "logo",
    "logo_text",
    "card_description",
)


def pass_visible_changes(*, stored: LoyaltyProgram, edited: LoyaltyProgram) -> list[str]:
    """The pass-visible fields whose edited value differs from the stored row."""
    changed = [name for name in PASS_VISIBLE_PROGRAM_FIELDS if getattr(stored, name) != getattr(edited, name)]
    if "logo" not in changed and edited.logo and not edited.logo._committed:
        changed.append("logo")  # a new upload under the same file name
    return changed


def update_program(*, program: LoyaltyProgram, rewards_changed: bool = False) -> int:
    """Store the program as edited (a form's instance) and refresh its passes if they show a change.

    ``rewards_changed``: its rewards were added, edited or removed along with it (the admin's
    inline). Returns how many cards got a pass update.
    """
    with transaction.atomic():
        stored = LoyaltyProgram.objects.select_for_update().get(pk=program.pk)
        changed = pass_visible_changes(stored=stored, edited=program)
        new_days, old_days = program.points_expiry_days, stored.points_expiry_days
        if new_days is not None and (old_days is None or new_days < old_days):
            # A shorter expiry applies to activity after the change: nobody's points expire sooner
            # than the new number of days from now (loyalty/selectors.py, points_expiry).
            program.points_expiry_changed_at = timezone.now()
        program.save()  # moves updated_at: the Google class and the pass images are redrawn
        if not (changed or rewards_changed):
            return 0
        return refresh_program_passes(program_id=program.pk)


def save_reward(*, reward: Reward) -> int:
    """Create or edit one reward; its program's passes are refreshed."""
    with transaction.atomic():
        reward.save()
        return touch_programs(program_ids=[reward.program_id])


def delete_rewards(*, reward_ids: Iterable[int]) -> int:
    """Delete rewards (a reward used by the ledger is protected and refuses); their programs' passes are refreshed."""
    with transaction.atomic():
        rewards = Reward.objects.filter(pk__in=list(reward_ids))
        program_ids = sorted(set(rewards.values_list("program_id", flat=True)))
        rewards.delete()
        return touch_programs(program_ids=program_ids)


def update_merchant(*, merchant: Merchant) -> int:
    """Store the merchant as edited; a new name (on every pass) refreshes all its programs' passes."""
    with transaction.atomic():
        stored = Merchant.objects.select_for_update().get(pk=merchant.pk)
        merchant.save()
        if stored.name == merchant.name:
            return 0
        return touch_programs(program_ids=list(merchant.programs.values_list("pk", flat=True)))


def touch_programs(*, program_ids: list[int]) -> int:
    """Mark the programs changed (the Google class is patched again) and refresh their passes."""
    LoyaltyProgram.objects.filter(pk__in=program_ids).update(updated_at=timezone.now())
    return sum(refresh_program_passes(program_id=program_id) for program_id in program_ids)


def refresh_program_passes(*, program_id: int) -> int:
    """Schedule a pass update for every live card of the program, ``ID_SLICE`` cards at a time.

    Each slice moves the cards' ``updated_at`` (the Apple pass tag: a device asking what
    changed gets these serials) with one range update, and records the outbox rows. Must run
    inside the caller's transaction, so the program change and its updates commit together.
    """
    now = timezone.now()
    live = LoyaltyCard.objects.filter(program_id=program_id, deleted_at__isnull=True)
    total = 0
    after = 0
    while ids := list(live.filter(pk__gt=after).order_by("pk").values_list("pk", flat=True)[:ID_SLICE]):
        live.filter(pk__gt=after, pk__lte=ids[-1]).update(updated_at=now)
        schedule_pass_updates(ids)
        total += len(ids)
        after = ids[-1]
    return total
