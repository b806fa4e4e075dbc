"""Importing a merchant's existing members from CSV (customers/imports.py, import_members)."""

import io
import tracemalloc

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from customers.imports import MAX_ROWS, ImportFileError, Outcome, import_members
from customers.models import Customer
from loyalty.models import LoyaltyCard, LoyaltyTransaction
from tests.factories import CustomerFactory, ProgramFactory, make_card
from tests.privacy.conftest import csv_bytes
from wallet.models import WalletUpdate

HEADER = "email,first_name,last_name,phone,birth_date,points,stamps,card_number,enrolled_at,marketing_opt_in"
GOOD = [
    "ada@example.com,Ada,Lovelace,+33 6 12 34 56 78,17/05/1990,120,3,1111-2222-3333,2019-03-01,yes",
    "BOB@Example.com,Bob,Martin,06.11.22.33.44,1985-12-31,0,7,,01/02/2020,0",
    "cy@example.com,Cy,,,,40,,111122223334,,",
]


def counts() -> tuple[int, int, int]:
    return Customer.objects.count(), LoyaltyCard.objects.count(), LoyaltyTransaction.objects.count()


def run(data: bytes, shop, **options):
    return import_members(io.BytesIO(data), merchant=shop["merchant"], **options)


def test_import_writes_customers_cards_and_opening_balances(shop):
    report = run(csv_bytes(HEADER, *GOOD), shop, store=shop["store"], source_name="paper.csv")
    assert report.written and (report.created, report.existing, report.invalid) == (3, 0, 0)
    assert (report.points, report.stamps) == (160, 10)

    ada = Customer.objects.get(email="ada@example.com")
    assert (ada.first_name, ada.last_name, ada.phone) == ("Ada", "Lovelace", "+33612345678")
    assert ada.birth_date.isoformat() == "1990-05-17" and ada.marketing_opt_in is True
    card = ada.cards.get()
    assert card.card_number == "1111-2222-3333"
    assert (card.points_balance, card.stamp_count, card.lifetime_points_earned) == (120, 3, 120)
    assert card.enrolled_at_store == shop["store"]
    assert timezone.localdate(card.created_at).isoformat() == "2019-03-01"  # the original enrolment
    rows = list(card.transactions.order_by("id").values_list("type", "points_delta", "stamps_delta"))
    assert rows == [("points_import", 120, 0), ("stamps_import", 0, 3)]  # no welcome bonus
    assert card.transactions.get(type="points_import").reason == "Opening balance imported from paper.csv"

    bob = Customer.objects.get(email="bob@example.com")  # lower-cased
    assert bob.phone == "+33611223344"  # stored as the till looks it up: E.164 in the merchant's country
    assert bob.birth_date.isoformat() == "1985-12-31"
    assert bob.cards.get().transactions.get().type == "stamps_import"
    assert timezone.localdate(bob.cards.get().created_at).isoformat() == "2020-02-01"  # day first
    cy = Customer.objects.get(email="cy@example.com")
    assert cy.cards.get().card_number == "1111-2222-3334"
    assert not LoyaltyTransaction.objects.filter(type="welcome_bonus").exists()
    assert not WalletUpdate.objects.exists(), "wallet passes follow on first use"
    call_command("verify_ledger", stdout=io.StringIO())


def test_a_card_number_is_generated_when_the_file_has_none(shop):
    run(csv_bytes("email", "a@example.com", "b@example.com"), shop)
    numbers = list(LoyaltyCard.objects.values_list("card_number", flat=True))
    assert len(set(numbers)) == 2 and all(len(number) == 14 for number in numbers)


def test_bom_semicolon_and_crlf(shop):
    data = csv_bytes(HEADER, *GOOD, bom=True, delimiter=";", newline="\r\n")
    report = run(data, shop)
    assert report.delimiter == ";" and report.created == 3 and report.written
    assert Customer.objects.filter(email="ada@example.com", first_name="Ada").exists()


def test_a_semicolon_file_whose_names_contain_commas(shop):
    data = '\ufeffemail;last_name;points\r\nann@example.com;"Smith, Jr";5\r\n'.encode()
    assert run(data, shop).created == 1
    assert Customer.objects.get().last_name == "Smith, Jr"


def test_the_dry_run_writes_nothing_and_says_what_would_happen_per_line(shop):
    CustomerFactory(merchant=shop["merchant"], email="cy@example.com")
    before = counts()
    lines = []
    report = run(
        csv_bytes(HEADER, *GOOD, "not-an-email,,,,,,,,,"),
        shop,
        dry_run=True,
        on_row=lambda line, outcome, member, problems: lines.append((line, outcome)),
    )
    assert counts() == before
    assert not report.written
    assert lines == [(2, Outcome.CREATE), (3, Outcome.CREATE), (4, Outcome.EXISTS), (5, Outcome.INVALID)]
    assert (report.created, report.existing, report.invalid) == (2, 1, 1)


def test_importing_the_same_file_again_changes_nothing(shop):
    data = csv_bytes(HEADER, *GOOD)
    run(data, shop)
    before = counts()
    balances = list(LoyaltyCard.objects.order_by("pk").values_list("points_balance", "stamp_count"))
    report = run(data, shop)
    assert (report.created, report.existing, report.invalid) == (0, 3, 0)
    assert counts() == before
    assert list(LoyaltyCard.objects.order_by("pk").values_list("points_balance", "stamp_count")) == balances


def test_a_member_who_already_joined_is_left_alone(shop):
    card = make_card(
        program=shop["program"], customer=CustomerFactory(merchant=shop["merchant"], email="ada@example.com")
    )
    run(csv_bytes(HEADER, *GOOD), shop)
    card.refresh_from_db()
    assert card.points_balance == 50  # their welcome bonus, not the file's 120
    assert Customer.objects.filter(email__iexact="ada@example.com").count() == 1


@pytest.mark.parametrize(
    ("line", "column", "reason"),
    [
        ("not-an-email,,,,,,,,,", "email", "is not an email address"),
        (",Ann,,,,,,,,", "email", "the email is empty"),
        ("x@example.com,,,,31/02/1990,,,,,", "birth_date", "31/02/1990 is not a date: February 1990 has 28 days"),
        ("x@example.com,,,,07/13/1990,,,,,", "birth_date", "there is no month 13"),
        ("x@example.com,,,,01/01/2999,,,,,", "birth_date", "in the future"),
        ("x@example.com,,,,01/01/1800,,,,,", "birth_date", "more than 120 years old"),
        ("x@example.com,,,,17/05/90,,,,,", "birth_date", "four digits"),
        ("x@example.com,,,,,-5,,,,", "points", "a balance cannot be negative (-5)"),
        ("x@example.com,,,,,,-1,,,", "stamps", "a balance cannot be negative (-1)"),
        ("x@example.com,,,,,12.5,,,,", "points", "is not a whole number"),
        ("x@example.com,,,,,2000000,,,,", "points", "more than the 1,000,000 allowed"),
        ("x@example.com,,,123,,,,,,", "phone", "is not a phone number"),
        ("x@example.com,,,,,,,12-34,,", "card_number", "is not a card number"),
        ("x@example.com,,,,,,,,yesterday,", "enrolled_at", "is not a date"),
        ("x@example.com,,,,,,,,2999-01-01,", "enrolled_at", "in the future"),
        ("x@example.com,,,,,,,,,perhaps", "marketing_opt_in", "is not yes or no"),
        ("x@example.com," + "A" * 61 + ",,,,,,,,", "first_name", "longer than 60 characters"),
        ("x@example.com,,,,,,,,,,extra", "", "11 values but the header names 10 columns"),
    ],
)
def test_every_invalid_row_is_reported_with_line_column_and_reason(shop, line, column, reason):
    before = counts()
    report = run(csv_bytes(HEADER, GOOD[0], line), shop)
    assert report.invalid == 1 and not report.written
    assert len(report.problems) == 1, report.problems
    problem = report.problems[0]
    assert (problem.line, problem.column) == (3, column)
    assert reason in problem.reason
    assert counts() == before, "one invalid row: nothing is written"


def test_duplicates_in_the_file_and_a_card_number_taken(shop):
    taken = make_card(program=shop["program"])
    data = csv_bytes(
        "email,card_number",
        "a@example.com,1111-2222-3333",
        "A@example.com,",
        "b@example.com,111122223333",
        f"c@example.com,{taken.card_number}",
    )
    report = run(data, shop)
    assert [(p.line, p.column) for p in report.problems] == [(3, "email"), (4, "card_number"), (5, "card_number")]
    assert "also on line 2" in report.problems[0].reason and "duplicate" in report.problems[0].reason
    assert "also on line 2" in report.problems[1].reason
    assert "already belongs to another card" in report.problems[2].reason
    assert not report.written and Customer.objects.count() == 1  # the taken card's owner only


def test_points_on_a_stamps_only_program_are_refused(db):
    program = ProgramFactory(kind="stamps")
    report = import_members(
        io.BytesIO(csv_bytes("email,points,stamps", "a@example.com,10,2")), merchant=program.merchant
    )
    assert [(p.column, p.reason) for p in report.problems] == [("points", "this merchant's program collects no points")]


def test_skip_invalid_imports_the_valid_rows(shop):
    report = run(csv_bytes(HEADER, GOOD[0], "bad,,,,,,,,,", GOOD[1]), shop, skip_invalid=True)
    assert report.written and (report.created, report.invalid) == (2, 1)
    assert set(Customer.objects.values_list("email", flat=True)) == {"ada@example.com", "bob@example.com"}


def test_unknown_columns_are_ignored_and_said(shop):
    report = run(csv_bytes("Email,Customer ID,points", "a@example.com,17,5"), shop)
    assert report.ignored_columns == ["Customer ID"] and report.created == 1


# --- bad files: a clear message, nothing written ------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty"),
        (b"\n\n", "The file is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "not UTF-8 text"),
        (b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00\xb4", "not UTF-8 text"),  # an .xlsx
        (b"email\x00name\n", "This is not a CSV file"),
        (b"first_name,last_name\nAda,Lovelace\n", "no email column"),
        (b"email,email\na@example.com,b@example.com\n", "more than once"),
        ("email,first_name\na@example.com,Zoé\n".encode("latin-1"), "not UTF-8 text (line 2)"),
    ],
)
def test_a_file_that_cannot_be_imported_says_why(shop, data, message):
    with pytest.raises(ImportFileError) as error:
        run(data, shop)
    assert message in error.value.message
    assert counts() == (0, 0, 0)


def test_a_50_mb_file_is_refused_before_it_is_read(shop, tmp_path):
    path = tmp_path / "huge.csv"
    with path.open("wb") as handle:
        handle.write(b"email\n")
        handle.truncate(50 * 1024 * 1024)
    with pytest.raises(CommandError, match=r"50.0 MB; at most 20 MB"):
        call_command("import_members", str(path), merchant=shop["merchant"].slug, stdout=io.StringIO())
    assert counts() == (0, 0, 0)


def test_five_million_rows_stop_at_the_limit_without_filling_memory(shop, tmp_path):
    path = tmp_path / "rows.csv"
    with path.open("wb") as handle:
        handle.write(b"email\n")
        for _ in range(50):
            handle.write(b"x\n" * 100_000)  # 5,000,000 rows, 10 MB
    tracemalloc.start()
    try:
        with (
            path.open("rb") as handle,
            pytest.raises(ImportFileError, match=f"5,000,001 lines, more than {MAX_ROWS:,} members"),
        ):
            import_members(handle, merchant=shop["merchant"], skip_invalid=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 40 * 1024 * 1024, f"peak {peak / 1024 / 1024:.0f} MB"
    assert counts() == (0, 0, 0)


# --- the command --------------------------------------------------------------------------------


def test_the_command_imports_with_progress(shop, tmp_path):
    path = tmp_path / "members.csv"
    path.write_bytes(csv_bytes(HEADER, *GOOD))
    out = io.StringIO()
    call_command("import_members", str(path), merchant=shop["merchant"].slug, store="main", stdout=out)
    text = out.getvalue()
    assert "Checked 3 rows" in text and "Imported 3/3 rows (100%)" in text
    assert "3 new member(s) with 160 point(s) and 10 stamp(s)" in text
    assert LoyaltyCard.objects.filter(enrolled_at_store=shop["store"]).count() == 3
    out = io.StringIO()
    call_command("import_members", str(path), merchant=shop["merchant"].slug, stdout=out)
    assert "0 new member(s)" in out.getvalue() and "3 already member(s) (unchanged)" in out.getvalue()


def test_the_command_dry_run_lists_every_line(shop, tmp_path):
    path = tmp_path / "members.csv"
    path.write_bytes(csv_bytes(HEADER, *GOOD))
    out = io.StringIO()
    call_command("import_members", str(path), merchant=shop["merchant"].slug, dry_run=True, stdout=out)
    text = out.getvalue()
    assert "line 2: would create ada@example.com, Ada Lovelace, 120 points, 3 stamps, card 1111-2222-3333" in text
    assert "line 4: would create cy@example.com" in text
    assert "Dry run: 3 row(s)" in text and "Nothing was written." in text
    assert counts() == (0, 0, 0)


def test_the_command_exits_non_zero_on_an_invalid_row_and_writes_nothing(shop, tmp_path):
    path = tmp_path / "members.csv"
    path.write_bytes(csv_bytes(HEADER, GOOD[0], "ann@example.com,,,,31/02/1990,-3,,,,"))
    err = io.StringIO()
    with pytest.raises(CommandError, match="1 invalid row"):
        call_command("import_members", str(path), merchant=shop["merchant"].slug, stdout=io.StringIO(), stderr=err)
    assert "line 3, birth_date: 31/02/1990 is not a date" in err.getvalue()
    assert "line 3, points: a balance cannot be negative (-3)" in err.getvalue()
    assert counts() == (0, 0, 0)
    call_command(
        "import_members",
        str(path),
        merchant=shop["merchant"].slug,
        skip_invalid=True,
        stdout=io.StringIO(),
        stderr=io.StringIO(),
    )
    assert list(Customer.objects.values_list("email", flat=True)) == ["ada@example.com"]


def test_the_command_refuses_an_unknown_merchant_store_or_file(shop, tmp_path):
    path = tmp_path / "members.csv"
    path.write_bytes(csv_bytes("email", "a@example.com"))
    with pytest.raises(CommandError, match="Unknown merchant"):
        call_command("import_members", str(path), merchant="nope")
    with pytest.raises(CommandError, match="no store with the code"):
        call_command("import_members", str(path), merchant=shop["merchant"].slug, store="nope")
    with pytest.raises(CommandError, match="no such file"):
        call_command("import_members", str(tmp_path / "missing.csv"), merchant=shop["merchant"].slug)
