"""Anomaly alerts: each rule at its threshold and one below, no duplicates, the API, the admin and the digest."""

import datetime
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from loyalty import services
from loyalty.models import Alert, LoyaltyTransaction
from loyalty.services.alerts import detect_anomalies, send_alert_digests
from notifications.models import OutboundEmail
from tests.factories import MerchantFactory, ProgramFactory, StaffMemberFactory, StoreFactory, make_card
from tests.loyalty.test_api_cards import client_for, error_of

Kind = Alert.Kind
NOW = timezone.make_aware(datetime.datetime(2026, 6, 10, 12, 0))


def at(minutes: int) -> datetime.datetime:
    return NOW - datetime.timedelta(minutes=minutes)


def busy(card, cashier, store, operations: int) -> None:
    for n in range(operations):
        if n % 2:
            services.add_stamp(card=card, store=store, staff_user=cashier.user, now=at(60 + n))
        else:
            services.earn_points(
                card=card, purchase_amount=Decimal("10"), store=store, staff_user=cashier.user, now=at(60 + n)
            )


def kinds(report) -> list[str]:
    return [alert.kind for alert in report.new]


@pytest.mark.django_db
def test_a_card_with_more_than_five_stamps_and_earns_in_a_day(card, cashier, store):
    busy(card, cashier, store, 6)
    report = detect_anomalies(now=NOW)
    assert kinds(report) == [Kind.CARD_BUSY_DAY]
    alert = Alert.objects.get()
    assert (alert.merchant, alert.card, alert.staff) == (card.merchant, card, None)
    assert alert.details == {"day": "2026-06-10", "operations": 6, "stamps": 3, "earns": 3, "limit": 5}


@pytest.mark.django_db
def test_five_stamps_and_earns_in_a_day_raise_nothing(card, cashier, store, settings):
    busy(card, cashier, store, 5)
    assert detect_anomalies(now=NOW).found == []
    settings.LOYALTY_ALERT_CARD_OPS_PER_DAY = 4  # the limit is a setting
    assert kinds(detect_anomalies(now=NOW)) == [Kind.CARD_BUSY_DAY]


@pytest.mark.django_db
def test_operations_on_two_days_are_counted_per_day(card, cashier, store):
    for n in range(3):
        services.add_stamp(card=card, store=store, staff_user=cashier.user, now=at(60 + n))
        services.add_stamp(card=card, store=store, staff_user=cashier.user, now=at(60 * 24 + n))
    assert detect_anomalies(now=NOW).found == []


@pytest.mark.django_db
def test_a_rerun_never_raises_twice_and_a_dry_run_raises_nothing(card, cashier, store, capsys):
    busy(card, cashier, store, 6)
    LoyaltyTransaction.objects.update(created_at=timezone.now() - datetime.timedelta(minutes=5))
    call_command("detect_anomalies", "--dry-run")
    assert "would raise card_busy_day" in capsys.readouterr().out
    assert not Alert.objects.exists()
    call_command("detect_anomalies", "--merchant", card.merchant.slug)
    assert "1 new alert(s) raised" in capsys.readouterr().out
    call_command("detect_anomalies")
    assert "0 new alert(s) raised; 1 already raised" in capsys.readouterr().out
    assert Alert.objects.count() == 1


def void_ratio_setup(card, cashier, store, earns: int, voided: int) -> None:
    for n in range(earns):
        services.earn_points(
            card=card, purchase_amount=Decimal("10"), store=store, staff_user=cashier.user, now=at(60 * 24 * 2 + n)
        )
    if voided:
        services.void_points(card=card, store=store, staff_user=cashier.user, points=voided, reason="Return", now=at(5))


@pytest.mark.django_db
def test_a_staff_member_voiding_more_than_ten_percent(card, cashier, store):
    void_ratio_setup(card, cashier, store, earns=10, voided=11)  # 11 of 100 points
    assert kinds(detect_anomalies(now=NOW)) == [Kind.STAFF_VOID_RATIO]
    alert = Alert.objects.get()
    assert alert.staff == cashier.user
    assert alert.details == {"days": 7, "earns": 10, "points_issued": 100, "points_voided": 11, "percent": 11.0}
    # The next night the same staff member is not raised again within the 7 days.
    assert detect_anomalies(now=NOW + datetime.timedelta(days=1)).found == []


@pytest.mark.django_db
@pytest.mark.parametrize(("earns", "voided"), [(10, 10), (9, 50)])
def test_ten_percent_or_fewer_than_ten_earns_raise_nothing(card, cashier, store, earns, voided):
    void_ratio_setup(card, cashier, store, earns=earns, voided=voided)
    assert detect_anomalies(now=NOW).found == []


@pytest.mark.django_db
@pytest.mark.parametrize(("adjustments", "raised"), [(6, True), (5, False)])
def test_more_than_five_adjustments_by_one_person_in_a_day(card, manager, store, adjustments, raised):
    for n in range(adjustments):
        services.adjust_balance(card=card, staff_user=manager.user, reason="Fix", points_delta=1, now=at(30 + n))
    report = detect_anomalies(now=NOW)
    assert kinds(report) == ([Kind.STAFF_ADJUSTMENTS] if raised else [])
    if raised:
        assert Alert.objects.get().details == {"day": "2026-06-10", "adjustments": 6, "limit": 5}


@pytest.mark.django_db
def test_no_alerts_for_a_merchant_with_no_activity(card, cashier, store):
    quiet = MerchantFactory()
    busy(card, cashier, store, 6)
    assert detect_anomalies(merchant=quiet, now=NOW).found == []
    assert not Alert.objects.exists()
    assert len(detect_anomalies(merchant=card.merchant, now=NOW).new) == 1


@pytest.fixture
def alerts(card, cashier, store):
    busy(card, cashier, store, 6)
    detect_anomalies(now=NOW)
    other = make_card(program=ProgramFactory())
    other_store = StoreFactory(merchant=other.merchant)
    busy(other, StaffMemberFactory(merchant=other.merchant, stores=[other_store]), other_store, 6)
    detect_anomalies(now=NOW)
    return Alert.objects.get(merchant=card.merchant), Alert.objects.get(merchant=other.merchant)


@pytest.mark.django_db
def test_managers_list_and_acknowledge_their_merchants_alerts(alerts, manager):
    own, foreign = alerts
    api = client_for(manager)
    body = api.get("/api/v1/alerts/").json()
    assert [row["id"] for row in body["results"]] == [own.pk]
    assert body["results"][0]["kind"] == "card_busy_day"
    assert body["results"][0]["card_number"] == own.card.card_number
    assert "6 stamps and earns" in body["results"][0]["description"]

    response = api.post(f"/api/v1/alerts/{own.pk}/acknowledge/")
    assert response.status_code == 200
    assert response.json()["acknowledged_by"] == manager.user.username
    own.refresh_from_db()
    assert own.acknowledged_by == manager.user and own.acknowledged_at is not None
    assert api.get("/api/v1/alerts/", {"acknowledged": "false"}).json()["results"] == []

    error_of(api.post(f"/api/v1/alerts/{foreign.pk}/acknowledge/"), 404, "not_found")
    foreign.refresh_from_db()
    assert foreign.acknowledged_at is None


@pytest.mark.django_db
def test_cashiers_may_not_see_alerts(alerts, cashier):
    api = client_for(cashier)
    error_of(api.get("/api/v1/alerts/"), 403, "permission_denied")
    error_of(api.post(f"/api/v1/alerts/{alerts[0].pk}/acknowledge/"), 403, "permission_denied")


@pytest.mark.django_db
def test_the_admin_lists_and_acknowledges_the_merchants_alerts(alerts, client, store):
    own, foreign = alerts
    owner = StaffMemberFactory(merchant=store.merchant, role="owner")
    client.force_login(owner.user)
    page = client.get("/admin/loyalty/alert/")
    assert page.status_code == 200
    assert own.card.card_number in page.content.decode()
    assert foreign.card.card_number not in page.content.decode()
    assert client.get(f"/admin/loyalty/alert/{foreign.pk}/change/").status_code in (302, 404)
    client.post("/admin/loyalty/alert/", {"action": "acknowledge", "_selected_action": [own.pk, foreign.pk]})
    own.refresh_from_db()
    foreign.refresh_from_db()
    assert own.acknowledged_by == owner.user
    assert foreign.acknowledged_at is None


@pytest.mark.django_db
def test_owners_get_one_digest_a_day_and_none_without_new_alerts(card, cashier, store):
    owner = StaffMemberFactory(merchant=store.merchant, role="owner")
    owner.user.email = "owner@example.com"
    owner.user.save()
    StaffMemberFactory(merchant=store.merchant, role="manager")  # managers see the admin, no email
    assert send_alert_digests(now=NOW) == 0
    busy(card, cashier, store, 6)
    detect_anomalies(now=NOW)
    assert send_alert_digests(now=NOW) == 1
    assert send_alert_digests(now=NOW + datetime.timedelta(minutes=5)) == 0  # once a day
    email = OutboundEmail.objects.get(kind="alert_digest")
    assert email.to_address == "owner@example.com"
    assert "1 new alert" in email.subject
    assert card.card_number in email.body_text
    assert send_alert_digests(now=NOW + datetime.timedelta(days=2)) == 0  # nothing new since


def test_the_detection_runs_nightly(settings):
    schedule = settings.CELERY_BEAT_SCHEDULE["detect-anomalies-nightly"]
    assert schedule["task"] == "loyalty.tasks.detect_anomalies"


@pytest.mark.django_db
def test_the_nightly_task_raises_and_sends(card, cashier, store):
    from loyalty.tasks import detect_anomalies as task

    busy(card, cashier, store, 6)
    LoyaltyTransaction.objects.update(created_at=timezone.now() - datetime.timedelta(minutes=5))
    assert task()["alerts"] == 1
    assert task()["alerts"] == 0
