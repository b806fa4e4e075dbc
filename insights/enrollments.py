"""Cards enrolled per local day and store: the roll-up (``EnrollmentDay``) and the figures read from it.

The minute job adds the cards whose id is above ``RollupState.card_last_id`` (ids, as for the
ledger, so every way of making a card counts: enrollment, the admin, the member import). Figures
read the roll-up up to that mark and the cards after it. Deleted cards still count as enrolled on
their day (new members); members total subtracts them, read from their own partial index
(``card_deleted_idx``: only the deleted cards). A card moved to another store after it was rolled
up moves its count (``card_moved``, called by ``update_card``).
"""

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count, Sum
from django.db.models.functions import Coalesce, TruncDate

from insights.models import EnrollmentDay, RollupState
from insights.periods import Period, local_tz
from loyalty.models import LoyaltyCard
from merchants.models import Merchant, Store


def _per_day(cards):
    """Cards counted per merchant, local day of enrollment and store."""
    return (
        cards.order_by()
        .annotate(day=TruncDate("created_at", tzinfo=local_tz()))
        .values("merchant", "day", "enrolled_at_store")
        .annotate(n=Count("id"))
    )


def add_enrollments(low: int, high: int, merchant_id: int | None = None) -> int:
    """Add the cards with ids (low, high] to the roll-up (the caller holds the state lock); returns them."""
    if high <= low:
        return 0
    cards = LoyaltyCard.objects.filter(id__gt=low, id__lte=high)
    if merchant_id is not None:
        cards = cards.filter(merchant_id=merchant_id)
    counts = list(_per_day(cards))
    if not counts:
        return 0
    existing = {}
    for row in EnrollmentDay.objects.select_for_update().filter(
        merchant_id__in={c["merchant"] for c in counts}, day__in={c["day"] for c in counts}
    ):
        existing.setdefault((row.merchant_id, row.day, row.store_id), row)
    new, changed = [], []
    for count in counts:
        row = existing.get((count["merchant"], count["day"], count["enrolled_at_store"]))
        if row is None:
            new.append(
                EnrollmentDay(
                    merchant_id=count["merchant"],
                    day=count["day"],
                    store_id=count["enrolled_at_store"],
                    cards=count["n"],
                )
            )
        else:
            row.cards += count["n"]
            changed.append(row)
    EnrollmentDay.objects.bulk_create(new, batch_size=2000)
    EnrollmentDay.objects.bulk_update(changed, ["cards"], batch_size=2000)
    return sum(c["n"] for c in counts)


def card_moved(*, card: LoyaltyCard, old_store_id: int | None, new_store_id: int | None) -> None:
    """The card's store of enrollment changed: move its count if the roll-up has it (inside the change's transaction).

    The state row is locked first, so the job cannot roll the card up in between: either the
    card is under the mark (counted at its old store: moved here) or above it (the job will count
    it at its new store).
    """
    if old_store_id == new_store_id:
        return
    with transaction.atomic():
        state = RollupState.objects.select_for_update(no_key=True).filter(pk=1).first()
        if state is None or card.pk > state.card_last_id:
            return
        day = card.created_at.astimezone(local_tz()).date()
        rows = EnrollmentDay.objects.select_for_update().filter(merchant_id=card.merchant_id, day=day)
        old = rows.filter(store_id=old_store_id, cards__gt=0).order_by("pk").first()
        if old is not None:
            old.cards -= 1
            old.save(update_fields=["cards"])
        new = rows.filter(store_id=new_store_id).order_by("pk").first()
        if new is None:
            EnrollmentDay.objects.create(merchant_id=card.merchant_id, day=day, store_id=new_store_id, cards=1)
        else:
            new.cards += 1
            new.save(update_fields=["cards"])


@dataclass
class Enrolled:
    """Cards enrolled in the period per day and store (``day``, ``enrolled_at_store``, ``n``), and members total."""

    rows: list[dict]
    total: int


def enrolled(merchant: Merchant, period: Period, store: Store | None, card_last_id: int) -> Enrolled:
    """New members per day and store, and the live cards enrolled by the period's end (members total).

    Reads the roll-up (days up to the period's end: a few rows a day), the cards made after its
    mark (one minute's) and the deleted cards enrolled by the end (their own index).
    """
    _, end = period.bounds()
    rolled = EnrollmentDay.objects.filter(merchant=merchant, day__lte=period.end)
    recent = LoyaltyCard.objects.filter(merchant=merchant, id__gt=card_last_id, created_at__lt=end)
    deleted = LoyaltyCard.objects.filter(merchant=merchant, deleted_at__isnull=False, created_at__lt=end)
    if store is not None:
        rolled = rolled.filter(store=store)
        recent = recent.filter(enrolled_at_store=store)
        deleted = deleted.filter(enrolled_at_store=store)
    rows = []
    total = 0
    if card_last_id:
        total += rolled.aggregate(n=Coalesce(Sum("cards"), 0))["n"]
        rows += [
            {"day": r["day"], "enrolled_at_store": r["store"], "n": r["n"]}
            for r in rolled.filter(day__gte=period.start).order_by().values("day", "store").annotate(n=Sum("cards"))
        ]
    for count in _per_day(recent):
        total += count["n"]
        if count["day"] >= period.start:
            rows.append({"day": count["day"], "enrolled_at_store": count["enrolled_at_store"], "n": count["n"]})
    total -= deleted.count()
    return Enrolled(rows=[r for r in rows if r["n"]], total=total)
