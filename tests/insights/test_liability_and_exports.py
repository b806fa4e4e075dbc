"""The liability roll-forward and the CSV exports (members, ledger), through the API."""

import csv
import io
from decimal import Decimal

import pytest
from django.http import StreamingHttpResponse

from insights.figures import LIABILITY_COLUMNS
from insights.rollup import rebuild
from tests.insights.conftest import client_for


def read_csv(response) -> list[dict]:
    assert isinstance(response, StreamingHttpResponse)  # streamed, never built in memory
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment;")
    text = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.parametrize("rolled", [False, True])
def test_liability_rolls_forward_over_three_months(owner_api, ledger, rolled):
    if rolled:
        rebuild()
    response = owner_api.get("/api/v1/insights/liability.csv", {"month": "2026-02"})
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.splitlines()[0] == ",".join(LIABILITY_COLUMNS)  # API: no BOM, the SPEC's columns in order
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["month"] for r in rows] == ["2025-12", "2026-01", "2026-02"]  # from the first ledger month
    dec, jan, feb = rows
    assert dec == {
        "month": "2025-12",
        "opening_points": "0",
        "issued_points": "15",
        "redeemed_points": "0",
        "voided_points": "0",
        "expired_points": "0",
        "closing_points": "15",
        "point_value": "0.05",
        "opening_amount": "0.00",
        "issued_amount": "0.75",
        "redeemed_amount": "0.00",
        "expired_amount": "0.00",
        "closing_amount": "0.75",
    }
    # January: issued 10 + 20 + 7 + 10 + 30; expired 10 by expiry + 15 left on c3 when it was deleted.
    assert (jan["issued_points"], jan["redeemed_points"], jan["voided_points"], jan["expired_points"]) == (
        "77",
        "15",
        "8",
        "25",
    )
    assert feb["issued_points"] == "6"
    for previous, current in zip(rows, rows[1:], strict=False):
        assert current["opening_points"] == previous["closing_points"]
        assert current["opening_amount"] == previous["closing_amount"]
    for r in rows:
        points = {
            name: int(r[f"{name}_points"]) for name in ["opening", "issued", "redeemed", "voided", "expired", "closing"]
        }
        assert (
            points["opening"] + points["issued"] - points["redeemed"] - points["voided"] - points["expired"]
            == points["closing"]
        )
        assert Decimal(r["closing_amount"]) == Decimal(r["closing_points"]) * Decimal("0.05")
    assert feb["closing_points"] == "50"


def test_this_months_closing_is_what_is_outstanding_now(owner_api):
    rows = read_csv(owner_api.get("/api/v1/insights/liability.csv"))
    summary = owner_api.get("/api/v1/insights/summary/").json()
    assert rows[-1]["closing_points"] == str(summary["points"]["outstanding"]) == "50"
    assert rows[-1]["closing_amount"] == summary["liability"]["amount"] == "2.50"
    assert len(rows) == 13  # December 2025 to December 2026


@pytest.mark.parametrize(
    "month,code",
    [
        ("2999-01", "month_in_future"),
        ("2026-13", "invalid_month"),
        ("2026-1", "invalid_month"),
        ("jan", "invalid_month"),
    ],
)
def test_liability_refuses_bad_months(owner_api, month, code):
    response = owner_api.get("/api/v1/insights/liability.csv", {"month": month})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


def test_members_export(owner_api, ledger):
    response = owner_api.get("/api/v1/exports/members.csv")
    assert response.status_code == 200
    rows = read_csv(response)
    assert list(rows[0]) == [
        "card_number",
        "first_name",
        "last_name",
        "email",
        "phone",
        "birth_date",
        "enrolled_at",
        "enrolled_store",
        "stamps",
        "points",
        "lifetime_points",
        "last_activity_at",
        "marketing_opt_in",
    ]
    c1, c2, _ = ledger["cards"]
    assert [r["card_number"] for r in rows] == [c1.card_number, c2.card_number]  # live cards of A only
    assert rows[0]["enrolled_store"] == "main" and rows[0]["points"] == "20"
    assert rows[0]["enrolled_at"] == "2026-01-05T10:00:00+01:00"
    assert rows[0]["phone"].startswith("'+")  # a leading + would be a formula in a spreadsheet


def test_member_names_that_look_like_formulas_are_neutralised(owner_api, ledger):
    c1 = ledger["cards"][0]
    c1.customer.first_name = "=cmd|' /C calc'!A0"
    c1.customer.last_name = "@SUM(A1)"
    c1.customer.save()
    row = read_csv(owner_api.get("/api/v1/exports/members.csv"))[0]
    assert row["first_name"] == "'=cmd|' /C calc'!A0"
    assert row["last_name"] == "'@SUM(A1)"


def test_ledger_export_of_a_date_range(owner_api, ledger):
    rows = read_csv(owner_api.get("/api/v1/exports/ledger.csv", {"from": "2026-01-10", "to": "2026-01-20"}))
    assert list(rows[0]) == [
        "created_at",
        "transaction_id",
        "card_number",
        "type",
        "stamps_delta",
        "points_delta",
        "stamps_after",
        "points_after",
        "purchase_amount",
        "order_reference",
        "store",
        "staff",
        "reason",
    ]
    # Local days: the stamp at 00:30 on the 10th is the first row, the 23:30 stamp on the 20th the last.
    assert rows[0]["created_at"] == "2026-01-10T00:30:00+01:00" and rows[0]["type"] == "stamp"
    assert rows[-1]["created_at"] == "2026-01-20T23:30:00+01:00"
    assert len(rows) == 11  # c1: 8 rows, c2: 3 rows
    assert {r["card_number"] for r in rows} == {c.card_number for c in ledger["cards"][:2]}
    adjust = next(r for r in rows if r["reason"].endswith("HYPERLINK(1)"))
    assert adjust["reason"] == "'=HYPERLINK(1)" and adjust["points_delta"] == "-3"  # numbers stay numbers
    assert adjust["staff"] == "max" and adjust["store"] == "kiosk"


def test_exports_are_for_owners_and_managers_of_the_merchant(ledger):
    for url in ["/api/v1/exports/members.csv", "/api/v1/exports/ledger.csv", "/api/v1/insights/liability.csv"]:
        assert client_for(ledger["cashier"]).get(url).status_code == 403
        assert client_for(ledger["manager"]).get(url).status_code == 200
        zebra = client_for(ledger["b_owner"]).get(url)
        content = b"".join(zebra.streaming_content).decode()
        assert ledger["cards"][0].card_number not in content


def test_exports_answer_csv_to_a_client_that_asks_for_csv(owner_api):
    response = owner_api.get("/api/v1/exports/members.csv", HTTP_ACCEPT="text/csv")
    assert response.status_code == 200
    refused = owner_api.get("/api/v1/exports/ledger.csv", {"from": "bad"}, HTTP_ACCEPT="text/csv")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_date"


def test_ledger_export_streams_in_chunks(owner_api):
    response = owner_api.get("/api/v1/exports/ledger.csv", {"from": "2025-12-01", "to": "2026-02-28"})
    first = next(iter(response.streaming_content))
    assert first.startswith(b"created_at,")
