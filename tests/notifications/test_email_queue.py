"""The durable email queue: enrollment queues, the worker sends over real SMTP (a loopback
server), an outage delays and loses nothing, and nothing is sent twice."""

import datetime

import pytest
from django.db import transaction
from django.utils import timezone

from notifications import delivery, tasks
from notifications.models import OutboundEmail
from notifications.services import queue_email
from tests.customers.conftest import form_data
from tests.factories import MerchantFactory, ProgramFactory
from tests.smtp_fake import FakeSMTP

Status = OutboundEmail.Status


@pytest.fixture
def smtp(settings):
    server = FakeSMTP()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = server.port
    settings.EMAIL_TIMEOUT = 2
    yield server
    server.stop()


@pytest.fixture
def merchant(db):
    return ProgramFactory(welcome_bonus=0).merchant


def backoff_elapsed() -> None:
    """As if every retry's backoff had run out."""
    OutboundEmail.objects.filter(status=Status.PENDING).update(next_attempt_at=timezone.now())


def test_joining_queues_the_welcome_email_and_the_request_never_talks_to_smtp(
    client, merchant, smtp, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(f"/join/{merchant.slug}/", form_data(email="ada@example.com"))
    assert response.status_code == 302
    email = OutboundEmail.objects.get()
    assert (email.kind, email.to_address, email.status) == ("card_welcome", "ada@example.com", Status.PENDING)
    assert "/card/" in email.body_text
    assert smtp.connections == 0  # the request only wrote the row

    for callback in callbacks:  # the worker's nudge (eager in tests)
        callback()
    email.refresh_from_db()
    assert email.status == Status.SENT and email.attempts == 1
    [message] = smtp.to("ada@example.com")
    assert "Welcome to" in message["Subject"]
    # Plain text and HTML (multipart/alternative), both with the card link; the unsubscribe headers.
    assert "/card/" in message.get_body(preferencelist=("plain",)).get_content()
    assert "/card/" in message.get_body(preferencelist=("html",)).get_content()
    assert "/preferences/" in message["List-Unsubscribe"]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_smtp_refusing_then_accepting_delivers_exactly_once(merchant, smtp, django_capture_on_commit_callbacks):
    smtp.refusing = True
    with django_capture_on_commit_callbacks(execute=True):
        email = queue_email(
            merchant_id=merchant.pk, to_address="bob@example.com", subject="Hi", body_text="Hello", kind="test"
        )
    email.refresh_from_db()
    assert email.status == Status.PENDING and email.attempts == 1
    assert "451" in email.last_error
    assert email.next_attempt_at > timezone.now()  # backed off
    assert tasks.sweep_emails() == 0  # not due yet: nothing tried

    smtp.refusing = False
    backoff_elapsed()
    assert tasks.sweep_emails() == 1
    assert tasks.sweep_emails() == 0
    backoff_elapsed()
    assert tasks.deliver_email(email.pk) is False  # a late duplicate nudge sends nothing
    email.refresh_from_db()
    assert email.status == Status.SENT and email.attempts == 2 and email.last_error == ""
    assert len(smtp.to("bob@example.com")) == 1


def test_smtp_server_down_delays_the_email_and_loses_nothing(merchant, smtp, django_capture_on_commit_callbacks):
    smtp.stop()
    with django_capture_on_commit_callbacks(execute=True):
        for number in range(3):
            queue_email(
                merchant_id=merchant.pk, to_address=f"c{number}@example.com", subject="Hi", body_text="x", kind="test"
            )
    assert OutboundEmail.objects.filter(status=Status.PENDING).count() == 3
    backoff_elapsed()
    assert tasks.sweep_emails() == 0  # gives up after a few connection failures in a row, rows untouched
    assert set(OutboundEmail.objects.values_list("status", flat=True)) == {Status.PENDING}

    smtp.start()
    backoff_elapsed()
    assert tasks.sweep_emails() == 3
    assert sorted(message["To"] for message in smtp.messages) == [f"c{n}@example.com" for n in range(3)]


def test_an_address_the_server_rejects_for_good_is_given_up_at_once(merchant, smtp, settings):
    settings.EMAIL_HOST = "127.0.0.1"

    async def reject(server, session, envelope, address, rcpt_options):
        return "550 5.1.1 No such user"

    smtp.handle_RCPT = reject
    email = queue_email(merchant_id=merchant.pk, to_address="ghost@example.com", subject="Hi", body_text="x", kind="t")
    assert delivery.deliver(email.pk) is False
    email.refresh_from_db()
    assert email.status == Status.FAILED and "550" in email.last_error


def test_an_email_about_something_rolled_back_is_never_queued(merchant, smtp, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            queue_email(merchant_id=merchant.pk, to_address="x@example.com", subject="Hi", body_text="x", kind="t")
            raise RuntimeError("the operation failed")
    assert callbacks == []
    assert not OutboundEmail.objects.exists()
    assert smtp.connections == 0


def test_a_dedupe_key_queues_one_fact_once(merchant):
    first = queue_email(
        merchant_id=merchant.pk, to_address="x@example.com", subject="Hi", body_text="x", kind="t", dedupe_key="k:1"
    )
    again = queue_email(
        merchant_id=merchant.pk, to_address="x@example.com", subject="Hi", body_text="x", kind="t", dedupe_key="k:1"
    )
    other_merchant = queue_email(
        merchant_id=MerchantFactory().pk,
        to_address="x@example.com",
        subject="Hi",
        body_text="x",
        kind="t",
        dedupe_key="k:1",
    )
    assert first is not None and again is None and other_merchant is not None


def test_a_leased_email_is_not_sent_by_a_second_worker(merchant, smtp):
    email = queue_email(merchant_id=merchant.pk, to_address="x@example.com", subject="Hi", body_text="x", kind="t")
    leased = delivery._lease(email.pk)
    assert leased is not None
    assert delivery.deliver(email.pk) is False  # leased: not due until the lease ends
    OutboundEmail.objects.filter(pk=email.pk).update(next_attempt_at=timezone.now() - datetime.timedelta(seconds=1))
    assert delivery.deliver(email.pk) is True  # the first worker died: retried after the lease
    assert len(smtp.messages) == 1
