from django.core.management.base import BaseCommand, CommandError

from loyalty import services
from loyalty.services.birthdays import BirthdayGrant, birthday_programs
from merchants.models import Merchant


def describe(grant: BirthdayGrant) -> str:
    bonus = []
    if grant.points:
        bonus.append(f"{grant.points} point(s)")
    if grant.stamps:
        bonus.append(f"{grant.stamps} stamp(s)")
    email = "birthday email" if grant.email else "no email (no marketing consent or emails off)"
    return f"{grant.merchant_slug} / card {grant.card_number} ({grant.customer_name}): {' + '.join(bonus)}, {email}"


class Command(BaseCommand):
    help = (
        "Give today's birthday bonuses (what the daily job does): once per card and year, never within "
        "30 days of enrollment or of a birth-date change. Safe to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument("--merchant", metavar="SLUG", help="Only this merchant's program.")
        parser.add_argument("--dry-run", action="store_true", help="List who would get what; change nothing.")

    def handle(self, *args, merchant=None, dry_run=False, **options):
        if merchant is not None and not Merchant.objects.filter(slug=merchant).exists():
            raise CommandError(f"Unknown merchant {merchant!r}: no merchant has that slug.")
        if not birthday_programs(merchant).exists():
            self.stdout.write(
                f"No active program with a birthday bonus at {merchant or 'any merchant'}: nothing to do."
            )
            return
        if dry_run:
            due = list(services.due_birthdays(merchant_slug=merchant))
            for grant in due:
                self.stdout.write(f"  would give {describe(grant)}")
            points = sum(grant.points for grant in due)
            stamps = sum(grant.stamps for grant in due)
            self.stdout.write(
                f"Dry run: {len(due)} card(s) would get {points} point(s) and {stamps} stamp(s). Nothing was changed."
            )
            return

        def progress(grant: BirthdayGrant) -> None:
            self.stdout.write(f"  gave {describe(grant)}")

        report = services.grant_birthday_rewards(merchant_slug=merchant, on_grant=progress)
        self.stdout.write(
            self.style.SUCCESS(
                f"Birthday bonuses: {len(report.granted)} card(s), {report.points} point(s), {report.stamps} stamp(s)."
            )
        )
        if report.skipped:
            self.stdout.write(f"{report.skipped} card(s) were granted by another run meanwhile or are no longer due.")
