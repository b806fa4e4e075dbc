"""Points expiration: the rules of loyalty.services.expire_points and the expire_points command."""

import datetime
import threading
import time
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.utils import timezone

from loyalty import services
from loyalty.models import LoyaltyCard, LoyaltyTransaction
from loyalty.selectors import cards_out_of_balance
from tests.factories import MerchantFactory, ProgramFactory, StoreFactory, UserFactory, make_card
from tests.support import postgres_only, run_concurrently
from wallet.models import WalletUpdate

Type = LoyaltyTransaction.Type
NOW = datetime.datetime(2026, 3, 10, 3, 0, tzinfo=datetime.UTC)
DAYS = 30


def operator():
    return UserFactory(username="operator", is_superuser=True, is_staff=True)


def inactive_card(program, *, points: int = 100, since: datetime.timedelta, store=None, now=NOW) -> LoyaltyCard:
    """A card holding `points` (an adjustment, so the ledger agrees) whose last activity was `since` before `now`."""
    card = make_card(program=program, store=store)
    if points:
        services.adjust_balance(card=card, staff_user=operator(), reason="test balance", points_delta=points)
    LoyaltyCard.objects.filter(pk=card.pk).update(last_activity_at=now - since)
    WalletUpdate.objects.filter(card=card).delete()  # only the expiry's own updates are asserted
    card.refresh_from_db()
    return card


def expire_rows(card) -> list[LoyaltyTransaction]:
    return list(card.transactions.filter(type=Type.POINTS_EXPIRE))


@pytest.fixture
def expiring(db):
    return ProgramFactory(points_expiry_days=DAYS)


# --- rules ------------------------------------------------------------------------------------


def test_expires_exactly_after_n_days_of_inactivity(expiring):
    one_second = datetime.timedelta(seconds=1)
    just_inside = inactive_card(expiring, since=datetime.timedelta(days=DAYS) - one_second)
    exactly = inactive_card(expiring, since=datetime.timedelta(days=DAYS))
    just_past = inactive_card(expiring, since=datetime.timedelta(days=DAYS) + one_second)

    report = services.expire_points(now=NOW)

    assert (report.cards, report.points) == (1, 100)
    for card in (just_inside, exactly, just_past):
        card.refresh_from_db()
    assert just_inside.points_balance == 100 and not expire_rows(just_inside)
    assert exactly.points_balance == 100 and not expire_rows(exactly)
    assert just_past.points_balance == 0
    assert len(expire_rows(just_past)) == 1


def test_expiry_writes_a_ledger_row_and_one_wallet_update_per_card(
    expiring, wallet_on, django_capture_on_commit_callbacks
):
    store = StoreFactory(merchant=expiring.merchant)
    card = inactive_card(expiring, points=70, since=datetime.timedelta(days=90), store=store)
    services.adjust_balance(card=card, staff_user=operator(), reason="stamps", stamps_delta=3)
    LoyaltyCard.objects.filter(pk=card.pk).update(last_activity_at=NOW - datetime.timedelta(days=90))
    WalletUpdate.objects.all().delete()

    with django_capture_on_commit_callbacks() as callbacks:
        services.expire_points(now=NOW)

    card.refresh_from_db()
    assert (card.points_balance, card.stamp_count) == (0, 3)  # stamps are not points: they stay
    [row] = expire_rows(card)
    assert row.points_delta == -70
    assert (row.points_after, row.stamps_after, row.stamps_delta) == (0, 3, 0)
    assert row.merchant_id == expiring.merchant_id
    assert row.created_at == NOW
    assert row.reason == f"No activity for {DAYS} days"
    assert row.staff_user is None and row.store is None
    assert list(WalletUpdate.objects.values_list("card_id", "status")) == [(card.pk, "pending")]
    assert len(callbacks) == 1  # the worker is nudged after commit
    assert not cards_out_of_balance().exists()


def test_programs_without_expiration_are_never_touched(db):
    forever = ProgramFactory(points_expiry_days=None)
    card = inactive_card(forever, since=datetime.timedelta(days=5000))

    assert services.expire_points(now=NOW).cards == 0

    card.refresh_from_db()
    assert card.points_balance == 100
    assert not expire_rows(card)
    assert not WalletUpdate.objects.exists()


def test_stamp_programs_and_deleted_cards_are_left_alone(db):
    stamps_only = ProgramFactory(kind="stamps", points_expiry_days=DAYS)
    stamp_card = inactive_card(stamps_only, points=0, since=datetime.timedelta(days=400))
    expiring = ProgramFactory(points_expiry_days=DAYS)
    deleted = inactive_card(expiring, since=datetime.timedelta(days=400))
    services.soft_delete_cards(card_ids=[deleted.pk])
    WalletUpdate.objects.all().delete()

    assert services.expire_points(now=NOW).cards == 0
    assert not LoyaltyTransaction.objects.filter(type=Type.POINTS_EXPIRE).exists()
    assert not WalletUpdate.objects.filter(card__in=[stamp_card, deleted]).exists()


def test_zero_balances_are_skipped(expiring):
    empty = inactive_card(expiring, points=0, since=datetime.timedelta(days=400))

    assert services.expire_points(now=NOW).cards == 0

    assert not expire_rows(empty)
    assert not WalletUpdate.objects.filter(card=empty).exists()


def test_recently_active_cards_are_untouched(expiring):
    active = inactive_card(expiring, since=datetime.timedelta(days=2))
    store = StoreFactory(merchant=expiring.merchant)
    revived = inactive_card(expiring, since=datetime.timedelta(days=400), store=store)
    services.earn_points(card=revived, purchase_amount=Decimal("5.00"), store=store, staff_user=None, now=NOW)

    assert services.expire_points(now=NOW).cards == 0

    for card, balance in ((active, 100), (revived, 105)):
        card.refresh_from_db()
        assert card.points_balance == balance
        assert not expire_rows(card)


def test_rerun_expires_nothing_twice(expiring):
    cards = [inactive_card(expiring, points=10 * (i + 1), since=datetime.timedelta(days=60)) for i in range(3)]

    first = services.expire_points(now=NOW)
    second = services.expire_points(now=NOW + datetime.timedelta(hours=1))

    assert (first.cards, first.points) == (3, 60)
    assert (second.cards, second.points) == (0, 0)
    for card in cards:
        assert len(expire_rows(card)) == 1
    assert WalletUpdate.objects.count() == 3
    assert not cards_out_of_balance().exists()


def test_crash_half_way_then_rerun_expires_each_card_once(expiring):
    cards = [inactive_card(expiring, points=5, since=datetime.timedelta(days=60)) for _ in range(5)]

    def crash_after_first_batch(report):
        raise RuntimeError("worker killed")

    with pytest.raises(RuntimeError):
        services.expire_points(now=NOW, batch_size=2, on_batch=crash_after_first_batch)
    # The first batch committed on its own; nothing else moved.
    assert LoyaltyTransaction.objects.filter(type=Type.POINTS_EXPIRE).count() == 2
    assert LoyaltyCard.objects.filter(points_balance=0).count() == 2

    report = services.expire_points(now=NOW, batch_size=2)

    assert (report.cards, report.points) == (3, 15)
    for card in cards:
        card.refresh_from_db()
        assert card.points_balance == 0
        assert len(expire_rows(card)) == 1
    assert WalletUpdate.objects.filter(status="pending").count() == 5
    assert not cards_out_of_balance().exists()


def test_batches_cover_every_card_and_report_running_totals(expiring):
    for _ in range(5):
        inactive_card(expiring, points=3, since=datetime.timedelta(days=60))
    seen = []

    report = services.expire_points(now=NOW, batch_size=2, on_batch=lambda r: seen.append((r.cards, r.points)))

    assert seen == [(2, 6), (4, 12), (5, 15)]
    assert (report.cards, report.points) == (5, 15)


def test_batches_walk_cards_of_one_instant_and_skip_zero_balances_between(expiring):
    """Batches follow (last activity, id): cards sharing an instant across a batch boundary, and
    inactive cards without points among them, are each handled once."""
    due = []
    for since_days in (90, 60, 60, 60, 60, 45):
        due.append(inactive_card(expiring, points=4, since=datetime.timedelta(days=since_days)))
        inactive_card(expiring, points=0, since=datetime.timedelta(days=since_days))

    report = services.expire_points(now=NOW, batch_size=2)

    assert (report.cards, report.points) == (6, 24)
    for card in due:
        assert len(expire_rows(card)) == 1
    assert not LoyaltyCard.objects.filter(points_balance__gt=0).exists()
    assert LoyaltyTransaction.objects.filter(type=Type.POINTS_EXPIRE).count() == 6


def test_merchant_filter_expires_only_that_merchant(expiring):
    other_program = ProgramFactory(points_expiry_days=DAYS)
    mine = inactive_card(expiring, since=datetime.timedelta(days=60))
    theirs = inactive_card(other_program, since=datetime.timedelta(days=60))

    report = services.expire_points(now=NOW, merchant_slug=expiring.merchant.slug)

    assert report.cards == 1
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert (mine.points_balance, theirs.points_balance) == (0, 100)


def test_each_program_uses_its_own_number_of_days(db):
    short = ProgramFactory(points_expiry_days=10)
    long = ProgramFactory(points_expiry_days=100)
    short_card = inactive_card(short, since=datetime.timedelta(days=20))
    long_card = inactive_card(long, since=datetime.timedelta(days=20))

    assert services.expire_points(now=NOW).cards == 1
    short_card.refresh_from_db()
    long_card.refresh_from_db()
    assert (short_card.points_balance, long_card.points_balance) == (0, 100)


# --- the command ------------------------------------------------------------------------------


def run_command(*args) -> str:
    out = StringIO()
    call_command("expire_points", *args, stdout=out)
    return out.getvalue()


def test_command_shows_progress_and_a_summary(expiring):
    for _ in range(5):
        inactive_card(expiring, points=20, since=datetime.timedelta(days=400), now=timezone.now())
    inactive_card(expiring, points=20, since=datetime.timedelta(days=1), now=timezone.now())

    output = run_command("--batch-size", "2")

    assert f"{expiring.merchant.slug} / {expiring.name}: 5 card(s), 100 point(s)" in output
    assert "2/5 cards (40%)" in output
    assert "4/5 cards (80%)" in output
    assert "5/5 cards (100%)" in output
    assert "Expired 100 point(s) on 5 card(s)." in output
    assert LoyaltyTransaction.objects.filter(type=Type.POINTS_EXPIRE).count() == 5
    assert "Expired 0 point(s) on 0 card(s)." in run_command()  # and again: nothing twice


def test_command_dry_run_counts_and_changes_nothing(expiring):
    cards = [
        inactive_card(expiring, points=15, since=datetime.timedelta(days=400), now=timezone.now()) for _ in range(2)
    ]

    output = run_command("--dry-run")

    assert "Dry run: 30 point(s) on 2 card(s) would expire. Nothing was changed." in output
    assert not LoyaltyTransaction.objects.filter(type=Type.POINTS_EXPIRE).exists()
    assert not WalletUpdate.objects.exists()
    for card in cards:
        card.refresh_from_db()
        assert card.points_balance == 15


def test_command_merchant_option(expiring):
    other = ProgramFactory(points_expiry_days=DAYS)
    mine = inactive_card(expiring, since=datetime.timedelta(days=400), now=timezone.now())
    theirs = inactive_card(other, since=datetime.timedelta(days=400), now=timezone.now())

    output = run_command("--merchant", expiring.merchant.slug)

    assert "Expired 100 point(s) on 1 card(s)." in output
    assert other.merchant.slug not in output
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert (mine.points_balance, theirs.points_balance) == (0, 100)


def test_command_refuses_an_unknown_merchant(db):
    with pytest.raises(CommandError, match="Unknown merchant 'no-such-shop'"):
        run_command("--merchant", "no-such-shop")


def test_command_on_a_merchant_without_expiration_says_so(db):
    merchant = MerchantFactory(slug="forever-shop")
    ProgramFactory(merchant=merchant, points_expiry_days=None)

    assert "nothing to expire" in run_command("--merchant", "forever-shop")


# --- PostgreSQL: the POS and the job at the same time --------------------------------------


def _blocked_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # activity is otherwise frozen for the transaction
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_card_earning_while_expiry_runs_keeps_its_points():
    """The cashier holds the card (earn in progress) while the job runs: the job skips it."""
    program = ProgramFactory(points_expiry_days=DAYS)
    store = StoreFactory(merchant=program.merchant)
    busy = inactive_card(program, since=datetime.timedelta(days=400), store=store, now=timezone.now())
    idle = inactive_card(program, since=datetime.timedelta(days=400), store=store, now=timezone.now())
    earning, expired = threading.Event(), threading.Event()

    def cashier():
        with transaction.atomic():
            result = services.earn_points(card=busy, purchase_amount=Decimal("20.00"), store=store, staff_user=None)
            earning.set()
            assert expired.wait(30), "the expiry never finished"
        return result

    def scheduler():
        assert earning.wait(30), "the cashier never started"
        try:
            return services.expire_points()
        finally:
            expired.set()

    earned, report = run_concurrently([cashier, scheduler])

    assert not isinstance(earned, Exception), earned
    assert not isinstance(report, Exception), report
    assert (report.cards, report.points) == (1, 100)  # the idle card only
    busy.refresh_from_db()
    idle.refresh_from_db()
    assert (busy.points_balance, idle.points_balance) == (120, 0)
    assert not expire_rows(busy)
    assert services.expire_points().cards == 0  # the busy card is active now
    assert not cards_out_of_balance().exists()


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_points_earned_while_the_job_holds_the_card_survive_it(monkeypatch):
    """The job holds the card (its batch is being written) when the cashier earns: the earn waits, then counts."""
    program = ProgramFactory(points_expiry_days=DAYS)
    store = StoreFactory(merchant=program.merchant)
    card = inactive_card(program, since=datetime.timedelta(days=400), store=store, now=timezone.now())
    in_batch = threading.Event()
    from loyalty.services import expiry

    real_schedule = expiry.schedule_pass_updates

    def schedule_then_wait_for_the_cashier(card_ids):
        real_schedule(card_ids)
        if card.pk in card_ids and not in_batch.is_set():
            in_batch.set()  # the batch's transaction is open and holds the card
            deadline = time.monotonic() + 15
            while not _blocked_on_a_lock():
                assert time.monotonic() < deadline, "the cashier never waited for the card"
                time.sleep(0.02)

    monkeypatch.setattr(expiry, "schedule_pass_updates", schedule_then_wait_for_the_cashier)

    def cashier():
        assert in_batch.wait(30), "the job never reached the card"
        return services.earn_points(card=card, purchase_amount=Decimal("20.00"), store=store, staff_user=None)

    report, earned = run_concurrently([services.expire_points, cashier])

    assert not isinstance(report, Exception), report
    assert not isinstance(earned, Exception), earned
    assert (report.cards, report.points) == (1, 100)
    card.refresh_from_db()
    assert card.points_balance == 20
    types = list(card.transactions.order_by("id").values_list("type", "points_delta"))
    assert types[-2:] == [(Type.POINTS_EXPIRE, -100), (Type.POINTS_EARN, 20)]
    assert not cards_out_of_balance().exists()


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_expire_each_card_once():
    program = ProgramFactory(points_expiry_days=DAYS)
    for _ in range(40):
        inactive_card(program, points=5, since=datetime.timedelta(days=400), now=timezone.now())

    reports = run_concurrently([lambda: services.expire_points(batch_size=3)] * 2)

    assert not any(isinstance(r, Exception) for r in reports), reports
    assert sum(r.cards for r in reports) == 40
    assert sum(r.points for r in reports) == 200
    assert LoyaltyTransaction.objects.filter(type=Type.POINTS_EXPIRE).count() == 40
    assert WalletUpdate.objects.count() == 40  # one per card (delivered inline: tasks are eager in tests)
    assert not cards_out_of_balance().exists()


def test_now_defaults_to_the_current_time(expiring):
    card = inactive_card(expiring, since=datetime.timedelta(days=0), now=timezone.now())
    LoyaltyCard.objects.filter(pk=card.pk).update(last_activity_at=timezone.now() - datetime.timedelta(days=DAYS + 1))

    assert services.expire_points().cards == 1


def test_purge_task_forgets_old_idempotency_records(db):
    import datetime

    from django.utils import timezone

    from loyalty.models import IdempotencyRecord
    from loyalty.tasks import purge_idempotency_records

    merchant = ProgramFactory().merchant
    old = IdempotencyRecord.objects.create(
        merchant=merchant, key="old", request_hash="h", started_at=timezone.now() - datetime.timedelta(days=3)
    )
    fresh = IdempotencyRecord.objects.create(merchant=merchant, key="fresh", request_hash="h")
    assert purge_idempotency_records.delay().get() == 1
    assert not IdempotencyRecord.objects.filter(pk=old.pk).exists()
    assert IdempotencyRecord.objects.filter(pk=fresh.pk).exists()
