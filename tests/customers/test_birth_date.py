"""The seed's bug must not come back: the birth date typed at enrollment is kept and used."""

import datetime

from django.utils import timezone

from customers.models import Customer
from loyalty.selectors import is_birthday_week
from tests.customers.conftest import form_data
from tests.factories import StaffMemberFactory

BIRTH_DATE = datetime.date(1990, 5, 17)


def enroll(client, join_url, capture, birth_date: str) -> Customer:
    with capture(execute=True):
        response = client.post(join_url, form_data(birth_date=birth_date))
    assert response.status_code == 302, response.context["form"].errors if response.context else response
    return Customer.objects.get()


def test_birth_date_from_the_date_picker_is_stored(client, join_url, django_capture_on_commit_callbacks):
    customer = enroll(client, join_url, django_capture_on_commit_callbacks, "1990-05-17")
    customer.refresh_from_db()
    assert customer.birth_date == BIRTH_DATE


def test_birth_date_typed_day_first_is_stored(client, join_url, django_capture_on_commit_callbacks):
    customer = enroll(client, join_url, django_capture_on_commit_callbacks, "17/05/1990")
    assert Customer.objects.get(pk=customer.pk).birth_date == BIRTH_DATE


def test_birth_date_round_trip_to_the_admin_and_the_birthday_rule(
    client, join_url, merchant, django_capture_on_commit_callbacks
):
    customer = enroll(client, join_url, django_capture_on_commit_callbacks, "17/05/1990")

    # The merchant owner logs into the admin and sees it in the list and on the customer's page.
    owner = StaffMemberFactory(merchant=merchant, role="owner", user__username="owner-1")
    assert owner.user.is_staff
    client.logout()
    assert client.login(username="owner-1", password="pass-word-1234")
    listing = client.get("/admin/customers/customer/")
    assert listing.status_code == 200
    html = listing.content.decode()
    assert customer.email in html
    assert "May 17, 1990" in html
    change = client.get(f"/admin/customers/customer/{customer.pk}/change/")
    assert change.status_code == 200
    assert 'name="birth_date" value="1990-05-17"' in change.content.decode()

    # The POS birthday badge is built on this rule, fed with the stored value.
    stored = Customer.objects.get(pk=customer.pk).birth_date
    for day in (14, 16, 17, 18, 20):  # within three days either side
        assert is_birthday_week(stored, datetime.date(2027, 5, day))
    for day in (13, 21):
        assert not is_birthday_week(stored, datetime.date(2027, 5, day))
    assert not is_birthday_week(stored, datetime.date(2027, 11, 17))


def test_names_are_escaped_in_the_admin(client, join_url, merchant, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        client.post(join_url, form_data(first_name="<script>alert(1)</script>"))
    StaffMemberFactory(merchant=merchant, role="owner", user__username="owner-2")
    client.login(username="owner-2", password="pass-word-1234")
    html = client.get("/admin/customers/customer/").content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_birthday_this_week_is_flagged(client, join_url, django_capture_on_commit_callbacks):
    today = timezone.localdate()
    birth_date = datetime.date(1985, today.month, min(today.day, 28))
    customer = enroll(client, join_url, django_capture_on_commit_callbacks, birth_date.strftime("%d/%m/%Y"))
    assert is_birthday_week(Customer.objects.get(pk=customer.pk).birth_date, birth_date.replace(year=today.year))
