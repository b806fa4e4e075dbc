"""Roll-ups of the ledger and the cards, so a year of figures reads a few thousand rows, not millions.

``LedgerDay`` sums the ledger rows of one merchant, local day (``TIME_ZONE``), store, staff
user and type; ``ProgramPoints`` sums every points delta of a program's cards; ``CardVisits`` and
``VisitRuns`` keep the visits per card and their runs; ``EnrollmentDay`` counts the cards enrolled
per local day and store. They are derived data: ``insights.rollup`` adds the ledger rows whose id
is above ``RollupState.last_id`` and the cards whose id is above ``RollupState.card_last_id`` (the
job runs every minute) and ``rebuild_insights`` recomputes them. Figures read the roll-ups for
what is up to the marks and the ledger and cards themselves after them, so they are exact
whenever the job last ran.
"""

from django.conf import settings
from django.db import models

from merchants.models import Merchant, Store


class LedgerDay(models.Model):
    # No index of its own: (merchant, day) below serves the merchant's lookups, and a bare merchant
    # index made PostgreSQL read every day of a big merchant and filter the period (issue 18).
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="+", db_index=False)
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


class LedgerStoreDay(models.Model):
    """``LedgerDay`` without the staff: the same sums per merchant, day, store and type.

    The daily series and the months read it: a big merchant's day has stores x types cells here
    against stores x staff x types in LedgerDay (20 against 456 a day in ``bench/scale.py``).
    Kept by the same job and rebuild (insights/rollup.py).
    """

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.DateField()
    store = models.ForeignKey(Store, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    type = models.CharField(max_length=20)
    rows = models.BigIntegerField(default=0)
    points_in = models.BigIntegerField(default=0)
    points_out = models.BigIntegerField(default=0)
    stamps_in = models.BigIntegerField(default=0)
    stamps_out = models.BigIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["merchant", "day"], name="ledger_store_day_merchant_idx")]

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
    # The same two marks for the cards (``EnrollmentDay``), whose ids are handed out the same way.
    card_last_id = models.BigIntegerField(default=0)
    card_seen_id = models.BigIntegerField(default=0)
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
    The state ``VisitRuns`` is kept from (the job compares a card's days before and after its new
    visits), and what the figures correct the runs with for the cards that visited after the mark;
    no figure reads it card by card. Kept by the same job and rebuild as ``LedgerDay``; SQLite reads
    the ledger instead.
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


class VisitRuns(models.Model):
    """Runs of consecutive visits of one card, counted per first and last day (PostgreSQL only).

    For a card's visits sorted by day, d1 <= d2 <= … (at every store: ``store_key`` 0; at one store:
    its id), each visit di with i > lag adds one to the row (first_day = d(i - lag), last_day = di,
    lag). A card with m visits between F and T has max(m - lag, 0) runs of lag + 1 visits lying
    between them, so with S(lag) = the runs with first_day >= F and last_day <= T:
    members with 1+ visits = S(0) - S(1), members with 2+ visits = S(1) - S(2), exactly, for any
    F and T. A window of W days reads at most W x W / 2 rows per lag, whatever the number of cards.
    Kept from ``CardVisits`` (the old and new visit days of the cards that visited) by the same
    statement that updates it.
    """

    # No index of its own: the unique constraint's index starts with the merchant.
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="+", db_index=False)
    store_key = models.BigIntegerField(default=0)
    first_day = models.DateField()
    last_day = models.DateField()
    lag = models.PositiveSmallIntegerField()
    runs = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "store_key", "first_day", "last_day", "lag"],
                include=["runs"],
                name="visit_runs_one_row_per_cell",
            )
        ]

    def __str__(self) -> str:
        return f"{self.runs} run(s) of {self.lag + 1} visit(s) from {self.first_day} to {self.last_day}"


class EnrollmentDay(models.Model):
    """Cards enrolled per merchant, local day (of ``created_at``) and store of enrollment.

    Every card counts, deleted or not (new members count the cards deleted since; members total
    subtracts the deleted cards, few, read from their own index). A card moved to another store
    afterwards (``update_card``) moves its count in the same transaction; a store deleted sets its
    rows' store to nothing, as it does the cards'.
    """

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    store = models.ForeignKey(Store, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    cards = models.BigIntegerField(default=0)

    class Meta:
        indexes = [
            models.Index(fields=["merchant", "day"], include=["store", "cards"], name="enrollment_day_merchant_idx")
        ]

    def __str__(self) -> str:
        return f"{self.day}: {self.cards} card(s) enrolled"


class ProgramPoints(models.Model):
    """The sum of every points delta of a program's cards, deleted or not (a running total).

    A card's balance is the sum of its ledger's points deltas (``verify_ledger`` checks it), so
    the points outstanding on live cards are this total, plus the deltas after the mark, minus
    the balances of the deleted cards.
    """

    program = models.OneToOneField("loyalty.LoyaltyProgram", on_delete=models.CASCADE, related_name="+")
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="+")
    points = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.points} point(s) on program {self.program_id}"
