from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from customers import erasure
from merchants.models import Merchant


class Command(BaseCommand):
    help = (
        "Erase the customers whose cards had no activity for longer than LOYALTY_RETENTION_DAYS (what the "
        "monthly job does); --dry-run lists them. Does nothing when the setting is unset."
    )

    def add_arguments(self, parser):
        parser.add_argument("--merchant", metavar="SLUG", help="Only this merchant's customers.")
        parser.add_argument("--dry-run", action="store_true", help="List who would be erased; change nothing.")

    def handle(self, *args, merchant=None, dry_run=False, **options):
        if merchant is not None and not Merchant.objects.filter(slug=merchant).exists():
            raise CommandError(f"Unknown merchant {merchant!r}: no merchant has that slug.")
        days = settings.LOYALTY_RETENTION_DAYS
        if not days:
            self.stdout.write("LOYALTY_RETENTION_DAYS is not set: customers are kept; nobody is erased.")
            return
        now = timezone.now()
        due = erasure.inactive_customers(now=now, merchant_slug=merchant).select_related("merchant")
        if dry_run:
            count = 0
            for customer in due.iterator(chunk_size=1000):
                count += 1
                self.stdout.write(
                    f"  {customer.merchant.slug}: customer {customer.pk} ({customer.email}), no activity since "
                    f"before {erasure.retention_cutoff(now, days):%Y-%m-%d}"
                )
            self.stdout.write(
                f"Dry run: {count} customer(s) inactive for more than {days} days would be erased. Nothing was changed."
            )
            return

        def on_erased(customer):
            self.stdout.write(f"  customer {customer.pk} erased")

        report = erasure.erase_inactive_customers(now=now, merchant_slug=merchant, on_erased=on_erased)
        self.stdout.write(self.style.SUCCESS(f"Erased {report.erased} customer(s) inactive for more than {days} days."))
