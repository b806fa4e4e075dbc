"""All or nothing on PostgreSQL: a change made by another connection half-way through leaves no trace."""

import io
import threading

import pytest

from customers import imports
from customers.imports import ImportAborted, import_members
from customers.models import Customer
from loyalty.models import LoyaltyCard, LoyaltyTransaction
from tests.factories import make_card
from tests.privacy.conftest import csv_bytes
from tests.support import postgres_only

pytestmark = [postgres_only, pytest.mark.django_db(transaction=True)]


def test_a_card_number_taken_mid_import_rolls_everything_back(shop, monkeypatch):
    monkeypatch.setattr(imports, "BATCH_SIZE", 10)
    rows = [f"member{n}@example.com,{n},9{n:011d}" for n in range(60)]
    data = csv_bytes("email,points,card_number", *rows)
    late_number = f"9{55:011d}"
    late_number = f"{late_number[:4]}-{late_number[4:8]}-{late_number[8:]}"

    def on_progress(report):
        # In the writing pass, after two batches were written: another till issues a card with a
        # number line 57 of the file asks for, and commits.
        if report.total_rows and report.rows == 20 and not LoyaltyCard.objects.filter(card_number=late_number).exists():
            thread = threading.Thread(target=lambda: _issue_card(shop, late_number))
            thread.start()
            thread.join()

    with pytest.raises(ImportAborted, match="already belongs to another card"):
        import_members(io.BytesIO(data), merchant=shop["merchant"], on_progress=on_progress)
    assert not Customer.objects.filter(email__startswith="member").exists()
    assert LoyaltyCard.objects.count() == 1  # the other till's card only
    assert not LoyaltyTransaction.objects.filter(type="points_import").exists()

    # The same file without the conflicting line goes in whole.
    data = csv_bytes("email,points,card_number", *[row for n, row in enumerate(rows) if n != 55])
    report = import_members(io.BytesIO(data), merchant=shop["merchant"])
    assert report.written and report.created == 59
    assert LoyaltyTransaction.objects.filter(type="points_import").count() == 58  # member0 has 0 points


def _issue_card(shop, number):
    from django.db import connection

    try:
        card = make_card(program=shop["program"])
        LoyaltyCard.objects.filter(pk=card.pk).update(card_number=number)
    finally:
        connection.close()
