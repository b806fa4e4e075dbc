from django.core.management.base import BaseCommand, CommandError

from loyalty import services
from loyalty.services.tiers import TierChange, tier_programs
from merchants.models import Merchant


def describe(change: TierChange) -> str:
    direction = "up" if change.up else "down"
    return (
        f"card {change.card_number}: {change.points_12m} point(s) in 12 months, "
        f"{change.old or 'no tier'} -> {change.new or 'no tier'} ({direction})"
    )


class Command(BaseCommand):
    help = (
        "Put every card of a program with tiers in the tier its points of the last 365 days give it "
        "(what the nightly job does; the only place a card moves down). Safe to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument("--merchant", metavar="SLUG", help="Only this merchant's programs.")
        parser.add_argument("--dry-run", action="store_true", help="List the cards that would move; change nothing.")

    def handle(self, *args, merchant=None, dry_run=False, **options):
        if merchant is not None and not Merchant.objects.filter(slug=merchant).exists():
            raise CommandError(f"Unknown merchant {merchant!r}: no merchant has that slug.")
        if not tier_programs(merchant).exists():
            self.stdout.write(f"No program with tiers at {merchant or 'any merchant'}: nothing to do.")
            return
        verb = "would move" if dry_run else "moved"

        def progress(change: TierChange) -> None:
            self.stdout.write(f"  {verb} {describe(change)}")

        report = services.review_tiers(merchant_slug=merchant, dry_run=dry_run, on_change=progress)
        summary = f"{report.cards} card(s) reviewed: {report.up} {verb} up, {report.down} {verb} down."
        if dry_run:
            self.stdout.write(f"Dry run: {summary} Nothing was changed.")
        else:
            self.stdout.write(self.style.SUCCESS(summary))
