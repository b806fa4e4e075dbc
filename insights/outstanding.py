"""Points outstanding on live cards: a running total per program (``ProgramPoints``) kept with the ledger.

A card's balance is the sum of its ledger rows' points deltas (the ledger invariant that every
balance change keeps and ``verify_ledger`` checks), so the points on a program's live cards are
the sum of every points delta of its cards (rolled up through the job's mark, plus the rows after
it) minus the balances of its deleted cards (read from their own partial index, ``card_deleted_idx``).
No pass over the live cards.
"""

from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

from django.db import connection
from django.db.models import Sum

from insights.models import ProgramPoints
from loyalty.models import LoyaltyCard, LoyaltyProgram
from merchants.models import Merchant

CENT = Decimal("0.01")


def money(points: int, point_value: Decimal) -> Decimal:
    return (Decimal(points) * point_value).quantize(CENT, rounding=ROUND_HALF_UP)


# Points deltas per program: summed per card first, then each card's program looked up by its key
# (a subquery per card), so a minute's rows never make the planner hash every card of the table.
PER_PROGRAM_SQL = """
    SELECT (SELECT program_id FROM loyalty_loyaltycard WHERE id = per_card.card_id) AS program_id,
           SUM(per_card.points)
    FROM (
        SELECT card_id, SUM(points_delta) AS points
        FROM loyalty_loyaltytransaction
        WHERE id > %s AND id <= %s {merchant}
        GROUP BY card_id
    ) AS per_card
    GROUP BY 1
"""


def _per_program(low: int, high: int | None, merchant_id: int | None) -> dict[int, int]:
    """{program id: the sum of the points deltas of ledger ids (low, high]} (no upper bound when ``high`` is None)."""
    sql = PER_PROGRAM_SQL.format(merchant="AND merchant_id = %s" if merchant_id is not None else "")
    params = [low, high if high is not None else 2**63 - 1] + ([merchant_id] if merchant_id is not None else [])
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {program_id: int(points or 0) for program_id, points in cursor.fetchall()}


def add_program_points(low: int, high: int, merchant_id: int | None = None) -> None:
    """Add the points deltas of ledger ids (low, high] to their programs' totals (the caller holds the state lock)."""
    if high <= low:
        return
    sums = _per_program(low, high, merchant_id)
    if not sums:
        return
    existing = {row.program_id: row for row in ProgramPoints.objects.select_for_update().filter(program_id__in=sums)}
    new = []
    for program_id, points in sums.items():
        if program_id in existing:
            existing[program_id].points += points
        else:
            new.append(ProgramPoints(program_id=program_id, points=points))
    if new:
        merchants = dict(
            LoyaltyProgram.objects.filter(pk__in=[p.program_id for p in new]).values_list("pk", "merchant")
        )
        for row in new:
            row.merchant_id = merchants[row.program_id]
        ProgramPoints.objects.bulk_create(new)
    ProgramPoints.objects.bulk_update(list(existing.values()), ["points"])


def outstanding(merchant: Merchant, last_id: int) -> tuple[int, Decimal]:
    """(points on live cards now, their value at each program's point value)."""
    points: dict = defaultdict(int)
    if last_id:
        for program_id, total in ProgramPoints.objects.filter(merchant=merchant).values_list("program", "points"):
            points[program_id] += total
    for program_id, total in _per_program(last_id, None, merchant.pk).items():
        points[program_id] += total
    deleted = LoyaltyCard.objects.filter(merchant=merchant, deleted_at__isnull=False, points_balance__gt=0)
    for program_id, balance in (
        deleted.order_by().values("program").annotate(b=Sum("points_balance")).values_list("program", "b")
    ):
        points[program_id] -= balance
    # Valued per point value, as the cards' balances summed per value would be (one rounding each).
    per_value: dict = defaultdict(int)
    for program_id, value in LoyaltyProgram.objects.filter(pk__in=list(points)).values_list("pk", "point_value"):
        per_value[value] += points[program_id]
    amount = sum((money(p, value) for value, p in per_value.items()), Decimal("0.00"))
    return sum(per_value.values()), amount
