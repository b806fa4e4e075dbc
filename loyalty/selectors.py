"""Reads of the loyalty domain with a fixed number of queries."""

import datetime

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


def is_birthday_week(birth_date: datetime.date | None, today: datetime.date) -> bool:
    """True when ``today`` is within three days either side of this year's birthday.

    A 29 February birthday falls on 28 February in other years. Birthdays near New Year
    are compared with last and next year's date too.
    """
    if birth_date is None:
        return False
    for year in (today.year - 1, today.year, today.year + 1):
        try:
            birthday = birth_date.replace(year=year)
        except ValueError:  # 29 February in a common year
            birthday = datetime.date(year, 2, 28)
        if abs((today - birthday).days) <= 3:
            return True
    return False
