"""Reads of the loyalty domain with a fixed number of queries."""

from django.db.models import F, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from loyalty.models import LoyaltyCard, LoyaltyTransaction


def _ledger_sum(field: str) -> Coalesce:
    total = (
        LoyaltyTransaction.objects.filter(card=OuterRef("pk"))
        .order_by()
        .values("card")
        .annotate(total=Sum(field))
        .values("total")
    )
    return Coalesce(Subquery(total, output_field=IntegerField()), Value(0))


def cards_out_of_balance() -> QuerySet[LoyaltyCard]:
    """Cards whose balances differ from the sum of their ledger deltas (should be none)."""
    return (
        LoyaltyCard.objects.annotate(
            ledger_points=_ledger_sum("points_delta"), ledger_stamps=_ledger_sum("stamps_delta")
        )
        .filter(~Q(points_balance=F("ledger_points")) | ~Q(stamp_count=F("ledger_stamps")))
        .order_by("pk")
    )
