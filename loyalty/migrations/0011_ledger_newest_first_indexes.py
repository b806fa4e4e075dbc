import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

from core.indexes import AddIndexConcurrently, RemoveIndexConcurrently


class Migration(migrations.Migration):
    """The ledger's indexes end with (created_at, id) descending, the order every list and page reads.

    With created_at alone, the rows of one instant (the nightly expiry writes all of its rows at the same
    time) were read whole and sorted by id for one page of the admin's list. Each new index is built before
    the one it replaces goes; the card's and created_at's single-column indexes go too (the new ones start
    with the same column).
    """

    # Indexes of a big table are built and dropped CONCURRENTLY on PostgreSQL: writes go on meanwhile.
    atomic = False

    dependencies = [
        ("loyalty", "0010_card_deleted_idx"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="loyaltytransaction",
            index=models.Index(fields=["card", "-created_at", "-id"], name="ledger_card_created_id_idx"),
        ),
        AddIndexConcurrently(
            model_name="loyaltytransaction",
            index=models.Index(fields=["merchant", "-created_at", "-id"], name="ledger_merchant_created_id_idx"),
        ),
        AddIndexConcurrently(
            model_name="loyaltytransaction",
            index=models.Index(fields=["-created_at", "-id"], name="ledger_created_id_idx"),
        ),
        AddIndexConcurrently(
            model_name="loyaltytransaction",
            index=models.Index(fields=["merchant", "type", "-created_at", "-id"], name="ledger_merchant_type_id_idx"),
        ),
        AddIndexConcurrently(
            model_name="loyaltytransaction",
            index=models.Index(fields=["store", "-created_at", "-id"], name="ledger_store_created_id_idx"),
        ),
        RemoveIndexConcurrently(model_name="loyaltytransaction", name="ledger_card_created_idx"),
        RemoveIndexConcurrently(model_name="loyaltytransaction", name="ledger_merchant_created_idx"),
        RemoveIndexConcurrently(model_name="loyaltytransaction", name="ledger_merchant_type_idx"),
        RemoveIndexConcurrently(model_name="loyaltytransaction", name="ledger_store_created_idx"),
        migrations.AlterField(
            model_name="loyaltytransaction",
            name="created_at",
            field=models.DateTimeField(default=django.utils.timezone.now),
        ),
        migrations.AlterField(
            model_name="loyaltytransaction",
            name="card",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="transactions",
                to="loyalty.loyaltycard",
            ),
        ),
    ]
