from django.core.management.base import BaseCommand, CommandError

from loyalty import services
from loyalty.services.reminders import reminder_programs, wants_reminder_email
from merchants.models import Merchant


class Command(BaseCommand):
    help = (
        "Remind cards whose points expire within their program's reminder days (what the daily job does): "
        "one reminder per card and expiry date, by email unless the customer switched emails off, and on "
        "the wallet pass. Safe to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument("--merchant", metavar="SLUG", help="Only this merchant's program.")
        parser.add_argument("--dry-run", action="store_true", help="List the reminders due; change nothing.")

    def handle(self, *args, merchant=None, dry_run=False, **options):
        if merchant is not None and not Merchant.objects.filter(slug=merchant).exists():
            raise CommandError(f"Unknown merchant {merchant!r}: no merchant has that slug.")
        if not reminder_programs(merchant).exists():
            self.stdout.write(
                f"No active program with points expiry and reminders at {merchant or 'any merchant'}: nothing to do."
            )
            return
        if dry_run:
            due = list(services.due_reminders(merchant_slug=merchant))
            for card, expiry in due:
                channel = "email and wallet" if wants_reminder_email(card) else "wallet only (emails off)"
                self.stdout.write(
                    f"  {card.merchant.slug} / card {card.card_number} ({card.customer.full_name}): "
                    f"{expiry.points} point(s) expire on {expiry.expires_on.isoformat()}, {channel}"
                )
            self.stdout.write(f"Dry run: {len(due)} reminder(s) due. Nothing was changed.")
            return

        def progress(notice) -> None:
            channel = "email and wallet" if notice.email else "wallet only (emails off)"
            self.stdout.write(
                f"  reminded {notice.merchant_slug} / card {notice.card_number}: {notice.points} point(s) "
                f"expire on {notice.expires_on.isoformat()}, {channel}"
            )

        report = services.send_expiry_reminders(merchant_slug=merchant, on_sent=progress)
        emailed = sum(1 for notice in report.sent if notice.email)
        self.stdout.write(self.style.SUCCESS(f"Expiry reminders: {len(report.sent)} card(s), {emailed} email(s)."))
        if report.skipped:
            self.stdout.write(f"{report.skipped} card(s) were reminded by another run meanwhile or are no longer due.")
