from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count, Sum
from django.utils import timezone

from loyalty import services
from merchants.models import Merchant


class Command(BaseCommand):
    help = (
        "Expire the points of cards inactive for longer than their program's expiration days "
        "(what the nightly job does). Safe to run again: nothing expires twice."
    )

    def add_arguments(self, parser):
        parser.add_argument("--merchant", metavar="SLUG", help="Only this merchant's program.")
        parser.add_argument("--dry-run", action="store_true", help="Count what would expire; change nothing.")
        parser.add_argument(
            "--batch-size",
            type=int,
            default=settings.LOYALTY_EXPIRY_BATCH_SIZE,
            help="Cards per transaction (default %(default)s).",
        )

    def handle(self, *args, merchant=None, dry_run=False, batch_size=None, **options):
        if merchant is not None and not Merchant.objects.filter(slug=merchant).exists():
            raise CommandError(f"Unknown merchant {merchant!r}: no merchant has that slug.")
        if batch_size is not None and batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        now = timezone.now()
        programs = list(services.expiring_programs(merchant))
        if not programs:
            scope = merchant or "any merchant"
            self.stdout.write(f"No points program with expiration at {scope}: nothing to expire.")
            return

        due = [(program, self._due(program, now)) for program in programs]
        total_cards = sum(cards for _, (cards, _) in due)
        total_points = sum(points for _, (_, points) in due)
        for program, (cards, points) in due:
            self.stdout.write(
                f"{program.merchant.slug} / {program.name}: {cards} card(s), {points} point(s) inactive "
                f"for more than {program.points_expiry_days} days"
            )
        if dry_run:
            self.stdout.write(
                f"Dry run: {total_points} point(s) on {total_cards} card(s) would expire. Nothing was changed."
            )
            return

        def progress(report: services.ExpiryReport) -> None:
            percent = min(100, round(100 * report.cards / total_cards)) if total_cards else 100
            self.stdout.write(f"  {report.cards}/{total_cards} cards ({percent}%), {report.points} points expired")

        report = services.expire_points(merchant_slug=merchant, now=now, batch_size=batch_size, on_batch=progress)
        self.stdout.write(self.style.SUCCESS(f"Expired {report.points} point(s) on {report.cards} card(s)."))
        if report.cards < total_cards:
            self.stdout.write(
                f"{total_cards - report.cards} card(s) were in use at a till or active again during the run "
                "and kept their points; the next run checks them again."
            )

    @staticmethod
    def _due(program, now) -> tuple[int, int]:
        totals = services.expiry_candidates(program, now).aggregate(cards=Count("pk"), points=Sum("points_balance"))
        return totals["cards"], totals["points"] or 0
