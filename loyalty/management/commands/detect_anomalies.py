from django.core.management.base import BaseCommand, CommandError

from loyalty.services.alerts import describe, detect_anomalies, send_alert_digests
from merchants.models import Merchant


class Command(BaseCommand):
    help = (
        "Raise the anomaly alerts the ledger shows (busy cards, staff voids and adjustments; what the "
        "nightly job does) and email the owners' digest. Safe to run again: a fact is never raised twice."
    )

    def add_arguments(self, parser):
        parser.add_argument("--merchant", metavar="SLUG", help="Only this merchant.")
        parser.add_argument("--dry-run", action="store_true", help="List the new alerts; raise and send nothing.")

    def handle(self, *args, merchant=None, dry_run=False, **options):
        target = None
        if merchant is not None:
            target = Merchant.objects.filter(slug=merchant).first()
            if target is None:
                raise CommandError(f"Unknown merchant {merchant!r}: no merchant has that slug.")
        report = detect_anomalies(merchant=target, dry_run=dry_run)
        verb = "would raise" if dry_run else "raised"
        for alert in report.new:
            self.stdout.write(f"  {verb} {alert.kind}: {describe(alert)}")
        summary = f"{len(report.new)} new alert(s) {verb}; {len(report.found) - len(report.new)} already raised."
        if dry_run:
            self.stdout.write(f"Dry run: {summary} Nothing was changed.")
            return
        emails = send_alert_digests(merchant=target)
        self.stdout.write(self.style.SUCCESS(f"{summary} {emails} digest email(s) queued."))
