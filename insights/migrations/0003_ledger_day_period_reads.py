"""A big merchant's insights over a year read their period of LedgerDay through (merchant, day).

The bare merchant index goes (PostgreSQL picked it and filtered out the other days), and
PostgreSQL learns how few distinct (store, staff, type) and (day, type) cells a merchant has:
without these statistics it expected a group per row, sorted 166,000 rows on disk instead of
hashing 475 groups in memory (issue 18, README "Scale").
"""

import django.db.models.deletion
from django.db import migrations, models

STATISTICS = {
    "ledger_day_cells": "store_id, staff_user_id, type",
    "ledger_day_days": "day, type",
}


def create_statistics(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, columns in STATISTICS.items():
        schema_editor.execute(f"CREATE STATISTICS IF NOT EXISTS {name} (ndistinct) ON {columns} FROM insights_ledgerday")
    schema_editor.execute("ANALYZE insights_ledgerday")


def drop_statistics(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in STATISTICS:
        schema_editor.execute(f"DROP STATISTICS IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [
        ("insights", "0002_enrollments_points_visit_runs"),
        ("merchants", "0005_merchant_country"),
    ]

    operations = [
        migrations.AlterField(
            model_name="ledgerday",
            name="merchant",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="merchants.merchant",
            ),
        ),
        migrations.RunPython(create_statistics, drop_statistics),
    ]
