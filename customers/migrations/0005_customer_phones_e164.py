"""Customers' phones in E.164 (``06 12 34 56 78`` at a French merchant -> ``+33612345678``).

Each phone is read with its merchant's country; one that does not parse as a possible number
stays as it is. The conversion is written out here (not imported from customers/phones.py) so
this migration keeps doing what it did when that module changes.
"""

import phonenumbers
from django.db import migrations

BATCH = 2000


def to_e164(raw: str, country: str) -> str | None:
    try:
        number = phonenumbers.parse(raw, country or "FR")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phones_to_e164(apps, schema_editor):
    Customer = apps.get_model("customers", "Customer")
    rows = Customer.objects.exclude(phone="").values_list("pk", "phone", "merchant__country").order_by("pk")
    after = 0
    while batch := list(rows.filter(pk__gt=after)[:BATCH]):
        changed = []
        for pk, phone, country in batch:
            e164 = to_e164(phone.strip(), country) if len(phone) <= 40 else None
            if e164 and e164 != phone:
                changed.append(Customer(pk=pk, phone=e164))
        Customer.objects.bulk_update(changed, ["phone"])
        after = batch[-1][0]


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0004_customer_erasure"),
        ("merchants", "0005_merchant_country"),
    ]

    operations = [migrations.RunPython(phones_to_e164, migrations.RunPython.noop, elidable=True)]
