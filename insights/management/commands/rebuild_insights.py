from django.core.management.base import BaseCommand, CommandError

from insights.rollup import rebuild, roll_up, vacuum
from merchants.models import Merchant


class Command(BaseCommand):
    help = "Recompute the insights' roll-ups from the ledger and the cards (all merchants, or one)."

    def add_arguments(self, parser):
        parser.add_argument("--merchant", help="Slug of one merchant.")

    def handle(self, *args, merchant=None, **options):
        merchant_id = None
        if merchant:
            found = Merchant.objects.filter(slug=merchant).first()
            if found is None:
                raise CommandError(f"No merchant with the slug {merchant!r}.")
            merchant_id = found.pk
        written = rebuild(merchant_id)
        roll_up()
        vacuum()
        self.stdout.write(f"Rebuilt the insights roll-up: {written} day row(s).")
