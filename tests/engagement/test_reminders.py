"""Points expiry reminders: one per card and expiry date, re-armed by activity, opt-out and language respected."""

import datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone, translation

from customers.birth_dates import date_in_words
from loyalty import services
from loyalty.models import ExpiryReminder, LoyaltyCard
from loyalty.selectors import points_expiry
from notifications.models import OutboundEmail
from tests.engagement.conftest import EXPIRY_DAYS, aged_card
from tests.factories import ProgramFactory
from wallet.models import WalletUpdate


def with_points(card, points=120, *, inactive_days=355):
    """The card holds ``points`` and was last active ``inactive_days`` ago (expiring in 365 - that)."""
    services.earn_points(card=card, purchase_amount=Decimal(points), store=None, staff_user=None)
    LoyaltyCard.objects.filter(pk=card.pk).update(
        last_activity_at=timezone.now() - datetime.timedelta(days=inactive_days)
    )
    card.refresh_from_db()
    return card


def remind(today=None):
    today = today or timezone.localdate()
    return services.send_expiry_reminders(today=today, now=timezone.now())


def test_a_card_near_expiry_is_reminded_once_per_expiry_date(program, outbox, django_capture_on_commit_callbacks):
    card = with_points(aged_card(program))
    expires_on = timezone.localdate() + datetime.timedelta(days=EXPIRY_DAYS - 355)
    WalletUpdate.objects.all().delete()
    before = card.updated_at

    with django_capture_on_commit_callbacks(execute=True):
        report = remind()

    [notice] = report.sent
    assert (notice.card_id, notice.points, notice.expires_on, notice.email) == (card.pk, 120, expires_on, True)
    [reminder] = ExpiryReminder.objects.all()
    assert (reminder.card_id, reminder.expires_on, reminder.points, reminder.emailed) == (
        card.pk,
        expires_on,
        120,
        True,
    )
    [email] = OutboundEmail.objects.all()
    assert email.kind == "expiry_reminder" and email.dedupe_key == f"expiry:{card.pk}:{expires_on.isoformat()}"
    with translation.override("en"):
        words = date_in_words(expires_on)
    assert email.subject == f"120 points expire on {words}"
    assert f"120 points on your {card.merchant.name} card will expire on {words}." in email.body_text
    assert "/preferences/" in email.body_text and "/preferences/" in email.body_html
    assert f"/card/{card.qr_code_data}/preferences/" in email.headers["List-Unsubscribe"]
    assert len(outbox) == 1
    # The wallet pass shows it: a pass update, and a new pass version for Apple devices.
    assert WalletUpdate.objects.filter(card=card).exists()
    card.refresh_from_db()
    assert card.updated_at > before

    # Again the same day, the next day: nothing more.
    assert remind().sent == []
    assert remind(timezone.localdate() + datetime.timedelta(days=1)).sent == []
    assert ExpiryReminder.objects.count() == 1 and OutboundEmail.objects.count() == 1


def test_activity_moves_the_date_and_rearms_the_reminder(program):
    card = with_points(aged_card(program))
    remind()
    first = ExpiryReminder.objects.get()

    services.earn_points(card=card, purchase_amount=Decimal("5"), store=None, staff_user=None)
    card.refresh_from_db()
    new_date = points_expiry(card).expires_on
    assert new_date > first.expires_on
    assert remind().sent == []  # a year away now

    # Ten days before the new date, the card is reminded again, for the new date.
    report = remind(new_date - datetime.timedelta(days=10))
    assert [n.expires_on for n in report.sent] == [new_date]
    assert sorted(ExpiryReminder.objects.values_list("expires_on", flat=True)) == [first.expires_on, new_date]
    assert OutboundEmail.objects.filter(kind="expiry_reminder").count() == 2


def test_cards_far_from_expiry_or_without_points_are_not_reminded(program, db):
    with_points(aged_card(program), inactive_days=300)  # 65 days left, reminders from 14
    aged_card(program)  # no points
    no_reminders = ProgramFactory(points_expiry_days=EXPIRY_DAYS, expiry_reminder_days=None)
    with_points(aged_card(no_reminders))
    stamps = ProgramFactory(kind="stamps", points_expiry_days=EXPIRY_DAYS)
    aged_card(stamps)

    assert remind().sent == []
    assert not ExpiryReminder.objects.exists()


def test_email_opt_out_is_respected_but_the_pass_still_shows_it(program):
    card = with_points(aged_card(program, email_opt_out=True))
    WalletUpdate.objects.all().delete()

    [notice] = remind().sent

    assert notice.email is False
    assert ExpiryReminder.objects.get().emailed is False
    assert not OutboundEmail.objects.exists()
    assert WalletUpdate.objects.filter(card=card).exists()


def test_the_reminder_is_in_the_customers_language(program):
    card = with_points(aged_card(program, preferred_language="fr", first_name="Zoé"))
    expires_on = timezone.localdate() + datetime.timedelta(days=10)
    remind()
    email = OutboundEmail.objects.get()
    with translation.override("fr"):
        words = date_in_words(expires_on)
    assert email.subject == f"120 points expirent le {words}"
    assert "Bonjour Zoé," in email.body_text
    assert f"120 points de votre carte {card.merchant.name} expireront le {words}." in email.body_text
    assert "Utilisez votre carte en boutique" in email.body_html
    assert 'lang="fr"' in email.body_html and "Préférences e-mail" in email.body_html


def test_dry_run_lists_the_reminders_and_changes_nothing(program):
    card = with_points(aged_card(program))
    opted_out = with_points(aged_card(program, email_opt_out=True), 30)
    out = StringIO()
    call_command("send_expiry_reminders", "--dry-run", stdout=out)
    text = out.getvalue()
    assert f"card {card.card_number}" in text and "120 point(s) expire on" in text and "email and wallet" in text
    assert f"card {opted_out.card_number}" in text and "wallet only (emails off)" in text
    assert "Dry run: 2 reminder(s) due. Nothing was changed." in text
    assert not ExpiryReminder.objects.exists() and not OutboundEmail.objects.exists()


def test_command_sends_with_progress(program):
    card = with_points(aged_card(program))
    out = StringIO()
    call_command("send_expiry_reminders", stdout=out)
    assert f"reminded {program.merchant.slug} / card {card.card_number}" in out.getvalue()
    assert "Expiry reminders: 1 card(s), 1 email(s)." in out.getvalue()


def test_the_daily_task_reminds(program):
    from loyalty.tasks import send_expiry_reminders

    with_points(aged_card(program))
    assert send_expiry_reminders.delay().get() == {"cards": 1, "emails": 1}


def test_the_card_page_shows_what_expires_and_when(client, program):
    card = with_points(aged_card(program), inactive_days=100)
    expiry = points_expiry(card)
    page = client.get(f"/card/{card.qr_code_data}/").content.decode()
    with translation.override("en"):
        words = date_in_words(expiry.expires_on)
    assert f"120 points expire on {words} unless you use your card before then." in page
    assert 'data-testid="expiry-notice"' not in page  # not near yet

    with_points(card, 1, inactive_days=360)
    page = client.get(f"/card/{card.qr_code_data}/").content.decode()
    assert 'data-testid="expiry-notice"' in page
    assert "121 points will expire on" in page
    page = client.get(f"/card/{card.qr_code_data}/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "121 points expireront le" in page


@pytest.mark.parametrize("field", ["birthday_bonus_points", "birthday_bonus_stamps"])
def test_the_card_page_has_no_expiry_line_without_expiry(client, db, field):
    card = aged_card(ProgramFactory(**{field: 1}))
    assert 'data-testid="points-expiry"' not in client.get(f"/card/{card.qr_code_data}/").content.decode()
