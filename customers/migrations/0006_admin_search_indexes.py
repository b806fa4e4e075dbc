import django.db.models.functions.text
from django.db import migrations, models

import core.indexes
from core.indexes import AddIndexConcurrently


class Migration(migrations.Migration):
    """The admin's name search (a prefix of the first or last name, any case) and its newest-first list."""

    # Indexes of a big table are built and dropped CONCURRENTLY on PostgreSQL: writes go on meanwhile.
    atomic = False

    dependencies = [
        ("customers", "0005_customer_phones_e164"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="customer",
            index=models.Index(
                models.F("merchant"),
                core.indexes.PatternOps(django.db.models.functions.text.Upper("last_name")),
                name="customer_last_name_prefix_idx",
            ),
        ),
        AddIndexConcurrently(
            model_name="customer",
            index=models.Index(
                models.F("merchant"),
                core.indexes.PatternOps(django.db.models.functions.text.Upper("first_name")),
                name="customer_first_name_prefix_idx",
            ),
        ),
        AddIndexConcurrently(
            model_name="customer",
            index=models.Index(fields=["merchant", "created_at"], name="customer_merchant_created_idx"),
        ),
    ]
