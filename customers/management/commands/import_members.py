import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from customers.imports import ImportAborted, ImportFileError, ImportReport, Outcome, import_members
from merchants.models import Merchant, Store


class Command(BaseCommand):
    help = (
        "Import a merchant's existing members from a CSV file (UTF-8, comma or semicolon; columns among "
        "first_name, last_name, email, phone, birth_date, points, stamps, card_number, enrolled_at, "
        "marketing_opt_in; email required). Every invalid row is listed; with any, nothing is written "
        "(unless --skip-invalid) and the command exits with status 1. Members already known by their "
        "email are left unchanged, so running it again changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="The CSV file.")
        parser.add_argument("--merchant", metavar="SLUG", required=True)
        parser.add_argument("--store", metavar="CODE", help="The store the cards are recorded as issued at.")
        parser.add_argument("--dry-run", action="store_true", help="Check and list what would be done; write nothing.")
        parser.add_argument("--skip-invalid", action="store_true", help="Import the valid rows, skip the invalid ones.")

    def handle(self, *args, file, merchant, store=None, dry_run=False, skip_invalid=False, **options):
        shop = Merchant.objects.filter(slug=merchant).first()
        if shop is None:
            raise CommandError(f"Unknown merchant {merchant!r}: no merchant has that slug.")
        where = None
        if store:
            where = Store.objects.filter(merchant=shop, code=store).first()
            if where is None:
                raise CommandError(f"{shop.name} has no store with the code {store!r}.")
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"{file}: no such file.")
        started = time.monotonic()

        def on_row(line, outcome, member, problems):
            if outcome == Outcome.INVALID:
                for problem in problems:
                    self.stderr.write(f"  {problem}")
            elif dry_run and outcome == Outcome.CREATE:
                self.stdout.write(f"  line {line}: would create {member.describe()}")
            elif dry_run:
                self.stdout.write(f"  line {line}: {member.email} is already a member: unchanged")

        def on_progress(report: ImportReport):
            if report.total_rows:
                percent = round(100 * report.rows / report.total_rows)
                self.stdout.write(f"Imported {report.rows}/{report.total_rows} rows ({percent}%)")
            else:
                self.stdout.write(f"Checked {report.rows} rows ({report.invalid} invalid)")

        try:
            with path.open("rb") as handle:
                report = import_members(
                    handle,
                    merchant=shop,
                    store=where,
                    dry_run=dry_run,
                    skip_invalid=skip_invalid,
                    source_name=path.name,
                    size=path.stat().st_size,
                    on_row=on_row,
                    on_progress=on_progress,
                )
        except (ImportFileError, ImportAborted) as exc:
            raise CommandError(f"{path.name}: {exc} Nothing was written.") from None
        elapsed = time.monotonic() - started
        if report.ignored_columns:
            self.stdout.write(f"Columns ignored: {', '.join(report.ignored_columns)}")
        summary = (
            f"{report.rows} row(s): {report.created} new member(s) with {report.points} point(s) and "
            f"{report.stamps} stamp(s), {report.existing} already member(s) (unchanged), {report.invalid} invalid"
        )
        if report.problem_count > len(report.problems):
            summary += f" ({report.problem_count} problems)"
        if dry_run:
            self.stdout.write(f"Dry run: {summary}. Nothing was written.")
        elif report.written:
            self.stdout.write(self.style.SUCCESS(f"Imported in {elapsed:.1f} s: {summary}."))
        else:
            self.stdout.write(f"{summary}. Nothing was written.")
        if report.invalid and not (skip_invalid and not dry_run):
            raise CommandError(
                f"{report.invalid} invalid row(s); nothing was written. Fix them, or run with --skip-invalid."
                if not dry_run
                else f"{report.invalid} invalid row(s)."
            )
