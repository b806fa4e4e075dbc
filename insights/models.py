"""Daily roll-up of the ledger, so a year of figures reads a few thousand rows, not millions.

``LedgerDay`` sums the ledger rows of one merchant, local day (``TIME_ZONE``), store, staff
user and type. It is derived data: ``insights.rollup`` adds the ledger rows whose id is above
``RollupState.last_id`` (the job runs every minute) and ``rebuild_insights`` recomputes it from
the ledger. Figures read the roll-up for rows up to ``last_id`` and the ledger itself for the
rows after it, so they are exact whenever the job last ran.
"""

from django.conf import settings
from django.db import models

from merchants.models import Merchant, Store


class LedgerDay(models.Model):
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    store = models.ForeignKey(Store, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    staff_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    type = models.CharField(max_length=20)
    rows = models.BigIntegerField(default=0)
    points_in = models.BigIntegerField(default=0, help_text="Sum of the positive points deltas.")
    points_out = models.BigIntegerField(default=0, help_text="Sum of the negative points deltas, as a positive number.")
    stamps_in = models.BigIntegerField(default=0)
    stamps_out = models.BigIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["merchant", "day"], name="ledger_day_merchant_day_idx")]

    def __str__(self) -> str:
        return f"{self.day} {self.type} x{self.rows}"


class RollupState(models.Model):
    """One row: the ledger is rolled up through ``last_id``; ``seen_id`` is the next run's limit.

    Ids are handed out at INSERT and become visible at COMMIT, so a smaller id may appear after a
    larger one. A run therefore rolls up only to the highest id it saw on its *previous* run (a
    minute earlier): a row with a smaller id that was still uncommitted then belongs to a
    transaction open for more than a minute, which no ledger write is.
    """

    last_id = models.BigIntegerField(default=0)
    seen_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"rolled up through ledger id {self.last_id}"


class IntArrayField(models.Field):
    """``integer[]`` on PostgreSQL (the only database that reads or writes it, in raw SQL)."""

    def db_type(self, connection):
        return "integer[]" if connection.vendor == "postgresql" else "text"


class CardVisits(models.Model):
    """Every visit day of a card (PostgreSQL only), for the figures about distinct members.

    ``days`` is the sorted list of the card's visit days (days since 1970-01-01 in ``TIME_ZONE``,
    once per visit), for all stores (``store_key`` 0) and per store (``store_key`` = store id).
    ``width_bucket(day, days)`` counts the visits up to a day by binary search, so "members with
    one / two or more visits between F and T" is one pass over the merchant's cards, however long
    the period. Kept by the same job and rebuild as ``LedgerDay``; SQLite reads the ledger instead.
    """

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="+")
    card = models.ForeignKey("loyalty.LoyaltyCard", on_delete=models.CASCADE, related_name="+")
    store_key = models.BigIntegerField(default=0)
    days = IntArrayField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["card", "store_key"], name="card_visits_one_row_per_store")]
        indexes = [models.Index(fields=["merchant", "store_key"], name="card_visits_merchant_store_idx")]

    def __str__(self) -> str:
        return f"visits of card {self.card_id}"
