import django.db.models.deletion
from django.db import migrations, models

from core.indexes import AddIndexConcurrently


class Migration(migrations.Migration):
    """The admin's filters of cards (inactive) and of the ledger (operation, store), newest first.

    The ledger's own merchant and store indexes go: the new (merchant, type, created_at) and (store,
    created_at) ones start with the same column and answer the same lookups.
    """

    # Indexes of a big table are built and dropped CONCURRENTLY on PostgreSQL: writes go on meanwhile.
    atomic = False

    dependencies = [
        ("loyalty", "0008_alerts"),
        ("merchants", "0005_merchant_country"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="loyaltycard",
            index=models.Index(
                condition=models.Q(("is_active", False)), fields=["merchant", "created_at"], name="card_inactive_idx"
            ),
        ),
        AddIndexConcurrently(
            model_name="loyaltytransaction",
            index=models.Index(fields=["merchant", "type", "-created_at"], name="ledger_merchant_type_idx"),
        ),
        AddIndexConcurrently(
            model_name="loyaltytransaction",
            index=models.Index(fields=["store", "-created_at"], name="ledger_store_created_idx"),
        ),
        migrations.AlterField(
            model_name="loyaltytransaction",
            name="merchant",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="transactions",
                to="merchants.merchant",
            ),
        ),
        migrations.AlterField(
            model_name="loyaltytransaction",
            name="store",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="merchants.store",
            ),
        ),
    ]
