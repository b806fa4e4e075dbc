"""CSV files: members, the ledger, the liability roll-forward. Streamed, constant memory.

Text a person typed (names, emails, reasons, order references) is neutralised for spreadsheets:
a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'``
so Excel, LibreOffice and Google Sheets show it as text instead of running it as a formula.
Numbers we write ourselves (a ``-50`` points delta) are left as numbers.
"""

import csv
import datetime
from collections.abc import Iterable, Iterator

from django.http import StreamingHttpResponse
from django.utils import timezone

from insights.figures import LIABILITY_COLUMNS, plain
from insights.periods import Period
from insights.rollup import local_tz
from loyalty.models import LoyaltyCard, LoyaltyTransaction
from merchants.models import Merchant

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"
CHUNK = 2000

MEMBER_COLUMNS = [
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
LEDGER_COLUMNS = [
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


def text(value) -> str:
    """A typed value as a safe cell."""
    value = "" if value is None else str(value)
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def moment(value: datetime.datetime | None) -> str:
    return timezone.localtime(value, local_tz()).isoformat(timespec="seconds") if value else ""


def member_rows(merchant: Merchant) -> Iterator[list[str]]:
    cards = (
        LoyaltyCard.objects.alive()
        .filter(merchant=merchant)
        .order_by("pk")
        .values_list(
            "card_number",
            "customer__first_name",
            "customer__last_name",
            "customer__email",
            "customer__phone",
            "customer__birth_date",
            "created_at",
            "enrolled_at_store__code",
            "stamp_count",
            "points_balance",
            "lifetime_points_earned",
            "last_activity_at",
            "customer__marketing_opt_in",
        )
    )
    for (
        number_,
        first,
        last,
        email,
        phone,
        birth,
        created,
        store,
        stamps,
        points,
        lifetime,
        active,
        opt_in,
    ) in cards.iterator(chunk_size=CHUNK):
        yield [
            text(number_),
            text(first),
            text(last),
            text(email),
            text(phone),
            birth.isoformat() if birth else "",
            moment(created),
            text(store),
            str(stamps),
            str(points),
            str(lifetime),
            moment(active),
            "true" if opt_in else "false",
        ]


def ledger_rows(merchant: Merchant, period: Period) -> Iterator[list[str]]:
    start, end = period.bounds()
    rows = (
        LoyaltyTransaction.objects.filter(merchant=merchant, created_at__gte=start, created_at__lt=end)
        .order_by("created_at", "pk")
        .values_list(
            "created_at",
            "pk",
            "card__card_number",
            "type",
            "stamps_delta",
            "points_delta",
            "stamps_after",
            "points_after",
            "purchase_amount",
            "order_reference",
            "store__code",
            "staff_user__username",
            "reason",
        )
    )
    for created, pk, card, kind, sd, pd, sa, pa, amount, order, store, staff, reason in rows.iterator(chunk_size=CHUNK):
        yield [
            moment(created),
            str(pk),
            text(card),
            kind,
            str(sd),
            str(pd),
            str(sa),
            str(pa),
            "" if amount is None else str(amount),
            text(order),
            text(store),
            text(staff),
            text(reason),
        ]


def liability_rows(rows: Iterable[dict]) -> Iterator[list[str]]:
    """Points as integers, the point value as typed (0.05), amounts in euros with two decimals."""
    for row in rows:
        yield [plain(row[c]) if c == "point_value" else str(row[c]) for c in LIABILITY_COLUMNS]


class _Line:
    """csv.writer's file: hands back each line instead of storing it."""

    def write(self, value: str) -> str:
        return value


def lines(header: list[str], rows: Iterable[list[str]], *, bom: bool) -> Iterator[str]:
    writer = csv.writer(_Line(), lineterminator="\r\n")
    yield (BOM if bom else "") + writer.writerow(header)
    for row in rows:
        yield writer.writerow(row)


def csv_response(filename: str, header: list[str], rows: Iterable[list[str]], *, bom: bool) -> StreamingHttpResponse:
    """A streamed UTF-8 CSV download; ``bom`` for spreadsheet users (Excel reads UTF-8 only with it)."""
    response = StreamingHttpResponse(
        (line.encode("utf-8") for line in lines(header, rows, bom=bom)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response
