"""Bringing a merchant's existing members in from a CSV file (paper cards, another system).

The file is UTF-8 (with or without a byte-order mark), comma- or semicolon-separated, with a header
naming columns among ``COLUMNS`` (``email`` required; other columns are ignored and said so). It is
read as a stream, twice: the first pass checks every row (line, column, reason) and the database
(emails already members, card numbers taken) without writing; the second writes, in one
transaction, customers, cards and their opening balances as ``points_import`` / ``stamps_import``
ledger rows (no welcome bonus), with bulk inserts in batches. With any invalid row nothing is
written unless ``skip_invalid``. A row whose email is already a member of the merchant is left as
it is, so importing the same file again changes nothing. No wallet update is scheduled: a pass is
made when the member first opens their card.

``import_members`` (the command) and the admin's upload page both call :func:`import_members`.
"""

import csv
import datetime
import io
import json
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import BinaryIO

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.db.models import Model
from django.db.models.functions import Lower
from django.utils import timezone

from customers.birth_dates import MAX_AGE_YEARS, oldest_birth_date, parse_birth_date
from customers.forms import NAME_MAX_LENGTH, PHONE_MAX_DIGITS, PHONE_MIN_DIGITS, normalize_phone
from customers.models import Customer
from customers.phones import stored_phone
from loyalty.models import LoyaltyCard, LoyaltyProgram, LoyaltyTransaction, generate_card_number
from loyalty.selectors import normalize_card_number
from loyalty.services.ledger import MAX_POINTS_PER_OPERATION
from merchants.models import Merchant, Store

COLUMNS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "birth_date",
    "points",
    "stamps",
    "card_number",
    "enrolled_at",
    "marketing_opt_in",
)
MAX_FILE_BYTES = 20 * 1024 * 1024  # 200,000 typical rows are about 15 MB
MAX_ROWS = 200_000
MAX_STAMPS = 10_000
BATCH_SIZE = 2_000
MAX_KEPT_PROBLEMS = 1_000  # every problem is counted; the first ones are kept for the report
YES = {"1", "true", "yes", "y", "oui", "o", "x", "t", "vrai"}
NO = {"", "0", "false", "no", "n", "non", "f", "faux"}
Type = LoyaltyTransaction.Type


class ImportFileError(Exception):
    """The file as a whole cannot be imported (not CSV, empty, no email column, too large…)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class ImportAborted(Exception):
    """The database changed between the check and the write; nothing was written."""


@dataclass(frozen=True, slots=True)
class Problem:
    line: int
    column: str
    reason: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", {self.column}" if self.column else "")
        return f"{where}: {self.reason}"


@dataclass(slots=True)
class Member:
    """A valid row, as it will be written."""

    line: int
    email: str
    first_name: str = ""
    last_name: str = ""
    phone: str = ""
    birth_date: datetime.date | None = None
    points: int = 0
    stamps: int = 0
    card_number: str = ""
    enrolled_at: datetime.datetime | None = None
    marketing_opt_in: bool = False

    def describe(self) -> str:
        parts = [self.email]
        name = f"{self.first_name} {self.last_name}".strip()
        if name:
            parts.append(name)
        parts.append(f"{self.points} points, {self.stamps} stamps")
        parts.append(f"card {self.card_number}" if self.card_number else "new card number")
        return ", ".join(parts)


class Outcome(StrEnum):
    CREATE = "create"  # a new customer and card (dry run: would be created)
    EXISTS = "exists"  # the email is already a member here: left unchanged
    INVALID = "invalid"


RowCallback = Callable[[int, Outcome, Member | None, list[Problem]], None]
ProgressCallback = Callable[["ImportReport"], None]


@dataclass
class ImportReport:
    dry_run: bool
    skip_invalid: bool
    rows: int = 0
    created: int = 0  # created, or that a dry run would create
    existing: int = 0
    invalid: int = 0
    points: int = 0
    stamps: int = 0
    problem_count: int = 0
    problems: list[Problem] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    delimiter: str = ","
    written: bool = False
    total_rows: int | None = None  # known in the writing pass (the checking pass counted them)

    def add(self, problems: list[Problem]) -> None:
        self.problem_count += len(problems)
        room = MAX_KEPT_PROBLEMS - len(self.problems)
        if room > 0:
            self.problems.extend(problems[:room])

    @property
    def ok(self) -> bool:
        return self.invalid == 0


# --- reading the file ---------------------------------------------------------------------------


def _column_name(raw: str) -> str:
    return "_".join(raw.strip().lower().replace("-", " ").split())


def _delimiter(header: str) -> str:
    return ";" if header.count(";") > header.count(",") else ","


def _records(handle: BinaryIO, report: ImportReport) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, {column: value}) for every non-empty row, read as a stream.

    Raises ImportFileError for what makes the whole file unreadable.
    """
    handle.seek(0)
    text = io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")
    line = 1
    try:
        try:
            header_line = text.readline()
        except UnicodeDecodeError:
            raise ImportFileError(_NOT_UTF8 % {"line": _first_undecodable_line(handle)}) from None
        if not header_line.strip():
            raise ImportFileError(
                "The file is empty: it needs a header line naming its columns, then one member per line."
            )
        if "\x00" in header_line:
            raise ImportFileError("This is not a CSV file (it holds binary data). Export the members as CSV UTF-8.")
        delimiter = _delimiter(header_line)
        report.delimiter = delimiter
        try:
            raw_names = next(csv.reader([header_line], delimiter=delimiter))
        except (csv.Error, StopIteration) as exc:
            raise ImportFileError(f"The header line cannot be read as CSV: {exc}.") from None
        names = [_column_name(name) for name in raw_names]
        known = [name for name in names if name in COLUMNS]
        duplicates = sorted({name for name in known if known.count(name) > 1})
        if duplicates:
            raise ImportFileError(f"The header names {', '.join(duplicates)} more than once.")
        if "email" not in names:
            shown = ", ".join(name for name in raw_names[:6] if name.strip()) or "nothing"
            raise ImportFileError(
                f"The file has no email column (its first line names {shown}). The first line must name the "
                f"columns, among: {', '.join(COLUMNS)}; email is required."
            )
        report.ignored_columns = [
            raw.strip() or f"(column {index + 1})"
            for index, (raw, name) in enumerate(zip(raw_names, names, strict=True))
            if name not in COLUMNS
        ]
        positions = [(index, name) for index, name in enumerate(names) if name in COLUMNS]
        width = len(names)
        reader = csv.reader(text, delimiter=delimiter)
        while True:
            try:
                values = next(reader)
            except StopIteration:
                return
            except UnicodeDecodeError:
                raise ImportFileError(_NOT_UTF8 % {"line": _first_undecodable_line(handle)}) from None
            except csv.Error as exc:
                raise ImportFileError(f"Line {line + reader.line_num} cannot be read as CSV: {exc}.") from None
            number = line + reader.line_num
            if not values or all(not value.strip() for value in values):
                continue
            if any("\x00" in value for value in values):
                raise ImportFileError(
                    f"This is not a CSV file (line {number} holds binary data). Export the members as CSV UTF-8."
                )
            if len(values) > width and any(value.strip() for value in values[width:]):
                yield number, {"__width__": f"{len(values)} values but the header names {width} columns"}
                continue
            yield number, {name: values[index] if index < len(values) else "" for index, name in positions}
    finally:
        text.detach()  # the caller's file stays open (a second pass reads it again)


def _count_lines(handle: BinaryIO, chunk_size: int = 1024 * 1024) -> int:
    """Lines with something on them, counted in chunks (5 million lines take a fraction of a second)."""
    handle.seek(0)
    lines = 0
    previous = b"\n"
    while chunk := handle.read(chunk_size):
        lines += chunk.count(b"\n") - chunk.count(b"\n\n") - chunk.count(b"\n\r\n")
        if previous == b"\n" and chunk[:1] in (b"\n", b"\r"):
            lines -= 1  # a blank line across the chunk boundary
        previous = chunk[-1:]
    if previous not in (b"\n", b""):
        lines += 1  # the last line has no newline
    handle.seek(0)
    return max(lines, 0)


def _first_undecodable_line(handle: BinaryIO) -> int:
    """The number of the first line that is not UTF-8 (the decoder reads ahead, so it cannot say)."""
    handle.seek(0)
    for number, raw in enumerate(handle, start=1):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            return number
    return 1


_NOT_UTF8 = (
    "The file is not UTF-8 text (line %(line)s): save it as “CSV UTF-8” (Excel: File › Save as › "
    "CSV UTF-8) and try again."
)


# --- checking a row -----------------------------------------------------------------------------


@dataclass
class Rules:
    program: LoyaltyProgram
    today: datetime.date
    now: datetime.datetime


def _name(value: str, column: str, line: int, problems: list[Problem]) -> str:
    value = " ".join(value.split())
    if len(value) > NAME_MAX_LENGTH:
        problems.append(Problem(line, column, f"longer than {NAME_MAX_LENGTH} characters"))
    elif any(unicodedata.category(char).startswith("C") for char in value):
        problems.append(Problem(line, column, "contains control characters"))
    return value


def _count(value: str, column: str, line: int, maximum: int, problems: list[Problem]) -> int:
    value = value.strip()
    if not value:
        return 0
    try:
        number = int(value)
    except ValueError:
        problems.append(Problem(line, column, f"{value!r} is not a whole number"))
        return 0
    if number < 0:
        problems.append(Problem(line, column, f"a balance cannot be negative ({number})"))
    elif number > maximum:
        problems.append(Problem(line, column, f"{number} is more than the {maximum:,} allowed"))
    return number


def _birth_date(value: str, line: int, rules: Rules, problems: list[Problem]) -> datetime.date | None:
    value = value.strip()
    if not value:
        return None
    try:
        day = parse_birth_date(value)
    except ValidationError as exc:
        problems.append(Problem(line, "birth_date", " ".join(str(message) for message in exc.messages)))
        return None
    if day > rules.today:
        problems.append(Problem(line, "birth_date", f"{value} is in the future"))
    elif day < oldest_birth_date(rules.today):
        problems.append(
            Problem(line, "birth_date", f"{value} would make the member more than {MAX_AGE_YEARS} years old")
        )
    return day


def _enrolled_at(value: str, line: int, rules: Rules, problems: list[Problem]) -> datetime.datetime | None:
    value = value.strip()
    if not value:
        return None
    moment = None
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError:
        try:
            day = parse_birth_date(value)  # the same day-first or ISO date reading
        except ValidationError:
            problems.append(Problem(line, "enrolled_at", f"{value!r} is not a date (DD/MM/YYYY or YYYY-MM-DD)"))
            return None
        moment = datetime.datetime.combine(day, datetime.time())
    if timezone.is_naive(moment):
        try:
            moment = timezone.make_aware(moment)
        except (ValueError, OverflowError):
            problems.append(Problem(line, "enrolled_at", f"{value!r} is not a date"))
            return None
    if moment > rules.now:
        problems.append(Problem(line, "enrolled_at", f"{value} is in the future"))
    elif moment.year < 1900:
        problems.append(Problem(line, "enrolled_at", f"{value} is too far in the past"))
    return moment


def check_row(line: int, values: dict[str, str], rules: Rules) -> tuple[Member | None, list[Problem]]:
    """The member a row describes, or None, with every problem of the row (a column may have one)."""
    if "__width__" in values:
        return None, [Problem(line, "", values["__width__"])]
    problems: list[Problem] = []
    email = values.get("email", "").strip().lower()
    if not email:
        problems.append(Problem(line, "email", "the email is empty (it is required)"))
    else:
        try:
            if len(email) > 254:
                raise ValidationError("too long")
            validate_email(email)
        except ValidationError:
            problems.append(Problem(line, "email", f"{email!r} is not an email address"))
    member = Member(line=line, email=email)
    member.first_name = _name(values.get("first_name", ""), "first_name", line, problems)
    member.last_name = _name(values.get("last_name", ""), "last_name", line, problems)
    phone = values.get("phone", "").strip()
    if phone:
        try:
            # Stored as enrollment stores it: E.164 with the merchant's country, so the till finds it.
            member.phone = stored_phone(normalize_phone(phone), rules.program.merchant.country)
        except ValueError:
            problems.append(
                Problem(
                    line,
                    "phone",
                    f"{phone!r} is not a phone number ({PHONE_MIN_DIGITS} to {PHONE_MAX_DIGITS} digits, "
                    "optionally starting with +)",
                )
            )
    member.birth_date = _birth_date(values.get("birth_date", ""), line, rules, problems)
    member.points = _count(values.get("points", ""), "points", line, MAX_POINTS_PER_OPERATION, problems)
    member.stamps = _count(values.get("stamps", ""), "stamps", line, MAX_STAMPS, problems)
    if member.points > 0 and not rules.program.uses_points:
        problems.append(Problem(line, "points", "this merchant's program collects no points"))
    if member.stamps > 0 and not rules.program.uses_stamps:
        problems.append(Problem(line, "stamps", "this merchant's program collects no stamps"))
    number = values.get("card_number", "").strip()
    if number:
        normalized = normalize_card_number(number)
        if normalized is None:
            problems.append(Problem(line, "card_number", f"{number!r} is not a card number (like 1234-5678-9012)"))
        else:
            member.card_number = normalized
    member.enrolled_at = _enrolled_at(values.get("enrolled_at", ""), line, rules, problems)
    opt_in = values.get("marketing_opt_in", "").strip().lower()
    if opt_in in YES:
        member.marketing_opt_in = True
    elif opt_in not in NO:
        problems.append(Problem(line, "marketing_opt_in", f"{opt_in!r} is not yes or no (use 1/0, yes/no, true/false)"))
    return (None if problems else member), problems


# --- the passes ---------------------------------------------------------------------------------


@dataclass
class _Pass:
    merchant: Merchant
    rules: Rules
    report: ImportReport
    write: bool
    reserved_numbers: set[str]  # every card number the file names (the checking pass found them all)
    store: Store | None = None
    imported_by: AbstractBaseUser | None = None
    source_name: str = ""
    on_row: RowCallback | None = None
    on_progress: ProgressCallback | None = None
    seen_emails: dict[str, int] = field(default_factory=dict)
    seen_numbers: dict[str, int] = field(default_factory=dict)
    strict: bool = True  # the writing pass of a file without problems: any new problem aborts
    max_rows: int = MAX_ROWS

    def run(self, handle: BinaryIO) -> None:
        # Rows in file order (an invalid one as its problems), so a report reads line by line.
        batch: list[Member | tuple[int, list[Problem]]] = []
        for line, values in _records(handle, self.report):
            self.report.rows += 1
            if self.report.rows > self.max_rows:
                raise ImportFileError(
                    f"The file has more than {self.max_rows:,} members: split it into several files of at most "
                    f"{self.max_rows:,} lines."
                )
            member, problems = check_row(line, values, self.rules)
            problems += self._duplicates(line, values, member)
            if problems:
                if self.write and self.strict:
                    self._invalid(line, problems)
                batch.append((line, problems))
            else:
                batch.append(member)
            if len(batch) >= BATCH_SIZE:
                self._flush(batch)
                batch = []
        self._flush(batch)

    def _duplicates(self, line: int, values: dict[str, str], member: Member | None) -> list[Problem]:
        problems = []
        email = values.get("email", "").strip().lower()
        if email:
            first = self.seen_emails.setdefault(email, line)
            if first != line:
                problems.append(Problem(line, "email", f"{email} is also on line {first} (a duplicate in the file)"))
        number = normalize_card_number(values.get("card_number", "") or "")
        if number:
            first = self.seen_numbers.setdefault(number, line)
            if first != line:
                problems.append(
                    Problem(line, "card_number", f"card {number} is also on line {first} (a duplicate in the file)")
                )
        return problems

    def _invalid(self, line: int, problems: list[Problem]) -> None:
        if self.write and self.strict:
            raise ImportAborted(f"{problems[0]} (the members changed while importing; run the import again)")
        self.report.invalid += 1
        self.report.add(problems)
        if self.on_row:
            self.on_row(line, Outcome.INVALID, None, problems)

    def _flush(self, rows: list[Member | tuple[int, list[Problem]]]) -> None:
        if not rows:
            return
        merchant = self.merchant
        batch = [row for row in rows if isinstance(row, Member)]
        emails = [member.email for member in batch]
        existing = set(
            Customer.objects.filter(merchant=merchant)
            .annotate(email_lower=Lower("email"))
            .filter(email_lower__in=emails)
            .values_list("email_lower", flat=True)
        )
        new = [member for member in batch if member.email not in existing]
        numbers = [member.card_number for member in new if member.card_number]
        taken = set(LoyaltyCard.objects.filter(card_number__in=numbers).values_list("card_number", flat=True))
        to_create = []
        for member in rows:
            if not isinstance(member, Member):
                self._invalid(*member)
            elif member.email in existing:
                self.report.existing += 1
                if self.on_row:
                    self.on_row(member.line, Outcome.EXISTS, member, [])
            elif member.card_number in taken:
                self._invalid(
                    member.line,
                    [Problem(member.line, "card_number", f"card {member.card_number} already belongs to another card")],
                )
            else:
                to_create.append(member)
                self.report.created += 1
                self.report.points += member.points
                self.report.stamps += member.stamps
                if self.on_row:
                    self.on_row(member.line, Outcome.CREATE, member, [])
        if self.write and to_create:
            self._write(to_create)
        if self.on_progress:
            self.on_progress(self.report)

    def _fresh_numbers(self, count: int) -> list[str]:
        """``count`` card numbers no card has and the file does not name."""
        numbers: set[str] = set()
        while len(numbers) < count:
            candidates = {generate_card_number() for _ in range(count - len(numbers))}
            candidates -= self.reserved_numbers | numbers
            taken = set(LoyaltyCard.objects.filter(card_number__in=candidates).values_list("card_number", flat=True))
            numbers |= candidates - taken
        return list(numbers)

    def _write(self, members: list[Member]) -> None:
        now = self.rules.now
        program = self.rules.program
        customers = [
            Customer(
                merchant=self.merchant,
                first_name=member.first_name,
                last_name=member.last_name,
                email=member.email,
                phone=member.phone,
                birth_date=member.birth_date,
                marketing_opt_in=member.marketing_opt_in,
                preferred_language=settings.LANGUAGE_CODE,
            )
            for member in members
        ]
        for member, customer in zip(members, customers, strict=True):
            customer.created_at = member.enrolled_at or now  # the original enrolment, when the file has it
            customer.updated_at = now
        insert_rows(Customer, customers)
        fresh = iter(self._fresh_numbers(sum(1 for member in members if not member.card_number)))
        cards = [
            LoyaltyCard(
                merchant_id=self.merchant.pk,
                customer=customer,
                program=program,
                enrolled_at_store=self.store,
                card_number=member.card_number or next(fresh),
                stamp_count=member.stamps,
                lifetime_stamps=member.stamps,
                points_balance=member.points,
                lifetime_points_earned=member.points,
                last_points_at=now if member.points else None,
                last_stamp_at=now if member.stamps else None,
                # The import is the card's first activity here: imported points start their expiry window now.
                last_activity_at=now,
            )
            for member, customer in zip(members, customers, strict=True)
        ]
        for member, card in zip(members, cards, strict=True):
            card.created_at = member.enrolled_at or now
            card.updated_at = now
        insert_rows(LoyaltyCard, cards)
        reason = f"Opening balance imported{' from ' + self.source_name if self.source_name else ''}"[:255]
        staff_user = self.imported_by if self.imported_by and self.imported_by.is_authenticated else None
        entries = []
        for member, card in zip(members, cards, strict=True):
            common = {
                "card": card,
                "merchant_id": self.merchant.pk,
                "store": self.store,
                "staff_user": staff_user,
                "reason": reason,
                "created_at": now,
            }
            if member.points:
                entries.append(
                    LoyaltyTransaction(
                        type=Type.POINTS_IMPORT,
                        points_delta=member.points,
                        stamps_after=0,
                        points_after=member.points,
                        **common,
                    )
                )
            if member.stamps:
                entries.append(
                    LoyaltyTransaction(
                        type=Type.STAMPS_IMPORT,
                        stamps_delta=member.stamps,
                        stamps_after=member.stamps,
                        points_after=member.points,
                        **common,
                    )
                )
        insert_rows(LoyaltyTransaction, entries)


def insert_rows(model: type[Model], objects: list[Model]) -> None:
    """Insert ``objects`` as they are (``created_at``/``updated_at`` included) and set their ids.

    PostgreSQL: ids drawn from the table's sequence, then one COPY (several times faster than a
    multi-row INSERT with tens of thousands of bound parameters). Elsewhere: ``bulk_create``, with
    the values of the automatic timestamps put back afterwards.
    """
    if not objects:
        return
    fields = model._meta.concrete_fields
    if connection.vendor != "postgresql":
        stamps = [(obj.created_at, obj.updated_at) for obj in objects] if hasattr(objects[0], "updated_at") else None
        model._default_manager.bulk_create(objects, batch_size=500)
        if stamps and any(obj.created_at != stamp[0] for obj, stamp in zip(objects, stamps, strict=True)):
            for obj, (created, updated) in zip(objects, stamps, strict=True):
                obj.created_at, obj.updated_at = created, updated
            model._default_manager.bulk_update(objects, ["created_at", "updated_at"], batch_size=500)
        return
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, len(objects)]
        )
        for obj, (pk,) in zip(objects, cursor.fetchall(), strict=True):
            obj.pk = pk
        for obj in objects:
            obj._state.adding = False
        columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
        json_fields = {field.attname for field in fields if field.get_internal_type() == "JSONField"}
        with cursor.cursor.copy(f"COPY {connection.ops.quote_name(table)} ({columns}) FROM STDIN") as copy:
            for obj in objects:
                copy.write_row(
                    [
                        json.dumps(getattr(obj, field.attname))
                        if field.attname in json_fields
                        else getattr(obj, field.attname)
                        for field in fields
                    ]
                )


def import_members(
    handle: BinaryIO,
    *,
    merchant: Merchant,
    store: Store | None = None,
    dry_run: bool = False,
    skip_invalid: bool = False,
    imported_by: AbstractBaseUser | None = None,
    source_name: str = "",
    size: int | None = None,
    on_row: RowCallback | None = None,
    on_progress: ProgressCallback | None = None,
    now: datetime.datetime | None = None,
    max_rows: int = MAX_ROWS,
) -> ImportReport:
    """Check the file, then (unless ``dry_run``, and unless a row is invalid without ``skip_invalid``)
    write its new members in one transaction. Returns what was found and done.

    ``handle`` is a seekable binary file (it is read twice); raises ImportFileError for a file that
    cannot be imported at all and ImportAborted when the members changed between check and write.
    """
    if size is None:
        handle.seek(0, io.SEEK_END)
        size = handle.tell()
    if size > MAX_FILE_BYTES:
        raise ImportFileError(
            f"The file is {size / 1024 / 1024:.1f} MB; at most {MAX_FILE_BYTES // 1024 // 1024} MB can be imported "
            "at once. Split it into several files."
        )
    if store is not None and store.merchant_id != merchant.pk:
        raise ImportFileError("That store does not belong to this merchant.")
    program = LoyaltyProgram.objects.filter(merchant=merchant, is_active=True).first()
    if program is None:
        raise ImportFileError(f"{merchant.name} has no active loyalty program: create one before importing members.")
    lines = _count_lines(handle)
    if lines > max_rows + 1:  # the header, then one member per line
        raise ImportFileError(
            f"The file has {lines:,} lines, more than {max_rows:,} members: split it into several files of at most "
            f"{max_rows:,} lines."
        )
    now = now or timezone.now()
    rules = Rules(program=program, today=timezone.localdate(now), now=now)

    check = ImportReport(dry_run=dry_run, skip_invalid=skip_invalid)
    checking = _Pass(
        merchant=merchant,
        rules=rules,
        report=check,
        write=False,
        reserved_numbers=set(),
        on_row=on_row,
        on_progress=on_progress,
        max_rows=max_rows,
    )
    checking.run(handle)
    if dry_run or check.created == 0 or (check.invalid and not skip_invalid):
        return check

    report = ImportReport(dry_run=False, skip_invalid=skip_invalid, total_rows=check.rows)
    writing = _Pass(
        merchant=merchant,
        rules=rules,
        report=report,
        write=True,
        reserved_numbers=set(checking.seen_numbers),
        store=store,
        imported_by=imported_by,
        source_name=source_name,
        on_progress=on_progress,
        strict=not skip_invalid,
        max_rows=max_rows,
    )
    try:
        with transaction.atomic(durable=True):
            if connection.vendor == "postgresql":
                # The tables grow by the import inside this transaction: a plan cached for the lookups
                # while they were small (a prepared statement's generic plan) would scan them whole for
                # every batch. Plan each lookup for the table as it is now.
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL plan_cache_mode = force_custom_plan")
            writing.run(handle)
    except IntegrityError as exc:
        raise ImportAborted(
            f"The members changed while importing ({exc.__class__.__name__}); nothing was written. Run it again."
        ) from exc
    report.written = True
    return report
