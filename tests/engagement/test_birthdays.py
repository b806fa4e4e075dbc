"""Birthday rewards: once per card and year, on the day, never right after joining or a birth-date change."""

import datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction
from django.utils import timezone

from customers.services import update_customer
from loyalty import services
from loyalty.models import LoyaltyCard, LoyaltyTransaction
from loyalty.selectors import cards_out_of_balance
from notifications.models import OutboundEmail
from tests.engagement import conftest
from tests.engagement.conftest import at_local
from tests.factories import ProgramFactory, UserFactory
from tests.support import postgres_only, run_concurrently
from wallet.models import WalletUpdate

Type = LoyaltyTransaction.Type
BIRTHDAY = datetime.date(2026, 5, 17)


def aged_card(program, **kwargs):
    """A card as old as asked on BIRTHDAY (the tests' today)."""
    kwargs.setdefault("as_of", at_local(BIRTHDAY))
    return conftest.aged_card(program, **kwargs)


def grant(day: datetime.date, **kwargs):
    return services.grant_birthday_rewards(today=day, now=at_local(day), **kwargs)


def birthday_rows(card=None):
    rows = LoyaltyTransaction.objects.filter(type=Type.BIRTHDAY_BONUS)
    return rows.filter(card=card) if card else rows


def test_the_birthday_itself_grants_points_and_stamps_once(program):
    card = aged_card(program)
    WalletUpdate.objects.all().delete()

    report = grant(BIRTHDAY)

    assert [g.card_id for g in report.granted] == [card.pk]
    card.refresh_from_db()
    assert (card.points_balance, card.stamp_count) == (100, 1)
    [row] = birthday_rows(card)
    assert (row.points_delta, row.stamps_delta, row.bonus_year) == (100, 1, 2026)
    assert (row.points_after, row.stamps_after) == (100, 1)
    assert WalletUpdate.objects.filter(card=card).exists()
    assert not cards_out_of_balance().exists()
    # A rerun the same day (or later that year) gives nothing more.
    assert grant(BIRTHDAY).granted == []
    assert grant(BIRTHDAY + datetime.timedelta(days=1)).granted == []
    assert birthday_rows(card).count() == 1


def test_other_days_grant_nothing_and_next_year_grants_again(program):
    card = aged_card(program)
    assert grant(BIRTHDAY - datetime.timedelta(days=1)).granted == []
    assert len(grant(BIRTHDAY).granted) == 1
    assert len(grant(BIRTHDAY.replace(year=2027)).granted) == 1
    assert sorted(birthday_rows(card).values_list("bonus_year", flat=True)) == [2026, 2027]


def test_the_bonus_is_not_activity_so_the_expiry_date_stays(program):
    card = aged_card(program)
    before = card.last_activity_at
    grant(BIRTHDAY)
    card.refresh_from_db()
    assert card.last_activity_at == before


@pytest.mark.parametrize(
    ("today", "granted"),
    [
        (datetime.date(2027, 2, 28), True),  # common year: celebrated on 28 February
        (datetime.date(2027, 3, 1), False),
        (datetime.date(2028, 2, 28), False),  # leap year: on the day itself
        (datetime.date(2028, 2, 29), True),
    ],
)
def test_29_february(program, today, granted):
    card = aged_card(program, birth_date=datetime.date(2000, 2, 29), issued_days_ago=800)
    assert bool(grant(today).granted) is granted
    assert birthday_rows(card).exists() is granted


def test_28_february_birthdays_are_not_doubled_in_a_leap_year(program):
    aged_card(program, birth_date=datetime.date(2000, 2, 28), issued_days_ago=800)
    assert grant(datetime.date(2028, 2, 29)).granted == []
    assert len(grant(datetime.date(2028, 2, 28)).granted) == 1


def test_a_card_issued_10_days_ago_waits(program):
    card = aged_card(program, issued_days_ago=10)
    assert grant(BIRTHDAY).granted == []
    assert not birthday_rows(card).exists()
    # 30 days is enough.
    LoyaltyCard.objects.filter(pk=card.pk).update(created_at=at_local(BIRTHDAY) - datetime.timedelta(days=30))
    assert len(grant(BIRTHDAY).granted) == 1


def test_a_birth_date_changed_last_week_waits(program):
    card = aged_card(program, birth_date=datetime.date(1990, 1, 2))
    customer = card.customer
    manager = UserFactory(is_staff=True)
    update_customer(
        customer=customer,
        changed_by=manager,
        first_name=customer.first_name,
        last_name=customer.last_name,
        email=customer.email,
        phone=customer.phone,
        birth_date=datetime.date(1990, 5, 17),
        marketing_opt_in=customer.marketing_opt_in,
        preferred_language=customer.preferred_language,
    )
    customer.refresh_from_db()
    assert customer.birth_date_changed_by == manager
    type(customer).objects.filter(pk=customer.pk).update(
        birth_date_changed_at=at_local(BIRTHDAY) - datetime.timedelta(days=7)
    )

    assert grant(BIRTHDAY).granted == []
    assert not birthday_rows(card).exists()


def test_inactive_deleted_and_no_bonus_programs_are_left_alone(program):
    inactive = aged_card(program)
    services.set_cards_active(card_ids=[inactive.pk], active=False)
    deleted = aged_card(program)
    services.soft_delete_cards(card_ids=[deleted.pk])
    no_bonus = ProgramFactory()
    aged_card(no_bonus)
    no_birth_date = aged_card(program, birth_date=None)

    assert grant(BIRTHDAY).granted == []
    assert not birthday_rows().exists()
    assert no_birth_date.customer.birth_date is None


def test_a_stamps_only_program_gives_only_stamps(db):
    program = ProgramFactory(kind="stamps", birthday_bonus_points=100, birthday_bonus_stamps=2)
    card = aged_card(program)
    grant(BIRTHDAY)
    card.refresh_from_db()
    assert (card.points_balance, card.stamp_count) == (0, 2)


def test_the_database_refuses_a_second_bonus_for_the_same_year(program):
    card = aged_card(program)
    grant(BIRTHDAY)
    with pytest.raises(IntegrityError), transaction.atomic():
        LoyaltyTransaction.objects.create(
            card=card,
            merchant_id=card.merchant_id,
            type=Type.BIRTHDAY_BONUS,
            points_delta=100,
            stamps_after=0,
            points_after=200,
            bonus_year=2026,
        )
    with pytest.raises(IntegrityError), transaction.atomic():  # a birthday bonus always names its year
        LoyaltyTransaction.objects.create(
            card=card, merchant_id=card.merchant_id, type=Type.BIRTHDAY_BONUS, stamps_after=0, points_after=0
        )


def test_marketing_consent_decides_the_email(program, outbox, django_capture_on_commit_callbacks):
    consenting = aged_card(program, marketing_opt_in=True, preferred_language="fr", first_name="Zoé")
    silent = aged_card(program, marketing_opt_in=False)
    opted_out = aged_card(program, marketing_opt_in=True, email_opt_out=True)

    with django_capture_on_commit_callbacks(execute=True):
        report = grant(BIRTHDAY)

    assert {g.card_id: g.email for g in report.granted} == {consenting.pk: True, silent.pk: False, opted_out.pk: False}
    [email] = OutboundEmail.objects.all()
    assert (email.kind, email.to_address, email.customer_id) == (
        "birthday",
        consenting.customer.email,
        consenting.customer_id,
    )
    assert email.subject == "Joyeux anniversaire, Zoé !"
    assert "100 points et 1 tampon" in email.body_text
    assert "100 points et 1 tampon" in email.body_html and "#7c2d12" in email.body_html
    assert f"/card/{consenting.qr_code_data}/preferences/" in email.headers["List-Unsubscribe"]
    assert email.dedupe_key == f"birthday:{consenting.pk}:2026"
    [sent] = outbox
    assert sent.to == [consenting.customer.email]
    assert sent.alternatives and sent.alternatives[0][1] == "text/html"
    assert sent.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_english_birthday_email(program):
    card = aged_card(program, marketing_opt_in=True, first_name="Ada")
    grant(BIRTHDAY)
    email = OutboundEmail.objects.get(customer=card.customer)
    assert email.subject == "Happy birthday, Ada!"
    assert "To celebrate, " in email.body_text and "added 100 points and 1 stamp to your card." in email.body_text


def test_merchant_option_limits_the_run(program):
    card = aged_card(program)
    other = aged_card(ProgramFactory(birthday_bonus_points=5))
    report = grant(BIRTHDAY, merchant_slug=program.merchant.slug)
    assert [g.card_id for g in report.granted] == [card.pk]
    assert not birthday_rows(other).exists()


# --- the command -------------------------------------------------------------------------------


@pytest.fixture
def on_the_birthday(monkeypatch):
    """The command and the service see BIRTHDAY as today."""
    now = at_local(BIRTHDAY)
    monkeypatch.setattr(timezone, "now", lambda: now)
    return now


def test_dry_run_shows_who_would_get_what_and_changes_nothing(program, on_the_birthday):
    card = aged_card(program, marketing_opt_in=True)
    out = StringIO()
    call_command("grant_birthday_rewards", "--dry-run", stdout=out)
    text = out.getvalue()
    assert f"card {card.card_number}" in text and "100 point(s) + 1 stamp(s)" in text and "birthday email" in text
    assert "Dry run: 1 card(s) would get 100 point(s) and 1 stamp(s). Nothing was changed." in text
    assert not birthday_rows().exists()
    assert not OutboundEmail.objects.exists()
    card.refresh_from_db()
    assert card.points_balance == 0


def test_command_grants_with_progress_and_a_rerun_grants_nothing(program, on_the_birthday):
    card = aged_card(program)
    out = StringIO()
    call_command("grant_birthday_rewards", stdout=out)
    assert f"gave {program.merchant.slug} / card {card.card_number}" in out.getvalue()
    assert "Birthday bonuses: 1 card(s), 100 point(s), 1 stamp(s)." in out.getvalue()
    out = StringIO()
    call_command("grant_birthday_rewards", stdout=out)
    assert "Birthday bonuses: 0 card(s)" in out.getvalue()
    assert birthday_rows(card).count() == 1


def test_command_refuses_an_unknown_merchant(db):
    with pytest.raises(CommandError, match="Unknown merchant"):
        call_command("grant_birthday_rewards", "--merchant", "nope")


def test_the_daily_task_grants(program, on_the_birthday):
    from loyalty.tasks import grant_birthday_rewards

    aged_card(program)
    assert grant_birthday_rewards.delay().get() == {"cards": 1, "points": 100, "stamps": 1}


# --- PostgreSQL: two runs at once ----------------------------------------------------------------


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_grant_each_card_once(program):
    cards = [aged_card(program, marketing_opt_in=True) for _ in range(12)]

    reports = run_concurrently([lambda: grant(BIRTHDAY)] * 2)

    assert not any(isinstance(r, Exception) for r in reports), reports
    assert sum(len(r.granted) for r in reports) == 12
    assert birthday_rows().count() == 12
    for card in cards:
        card.refresh_from_db()
        assert card.points_balance == 100
    assert OutboundEmail.objects.filter(kind="birthday").count() == 12
    assert not cards_out_of_balance().exists()


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_the_constraint_stops_a_run_that_did_not_see_the_other(program, monkeypatch):
    """Even when the in-transaction check is skipped, the unique constraint refuses the second grant."""
    card = aged_card(program)
    from loyalty.services import birthdays

    real_filter = LoyaltyTransaction.objects.filter

    class Blind:
        def exists(self):
            return False

    def blind_filter(*args, **kwargs):
        if kwargs.get("type") == Type.BIRTHDAY_BONUS and "bonus_year" in kwargs:
            return Blind()
        return real_filter(*args, **kwargs)

    assert birthdays.grant_birthday_bonus(card_id=card.pk, today=BIRTHDAY, now=at_local(BIRTHDAY))
    monkeypatch.setattr(LoyaltyTransaction.objects, "filter", blind_filter)
    assert birthdays.grant_birthday_bonus(card_id=card.pk, today=BIRTHDAY, now=at_local(BIRTHDAY)) is None
    monkeypatch.undo()
    assert birthday_rows(card).count() == 1
