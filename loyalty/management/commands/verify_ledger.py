from django.core.management.base import BaseCommand, CommandError

from loyalty.models import LoyaltyCard
from loyalty.selectors import cards_out_of_balance


class Command(BaseCommand):
    help = "Check every card's balances against the sum of its ledger; exit 1 listing the cards that differ."

    def handle(self, *args, **options):
        total = LoyaltyCard.objects.count()
        bad = list(
            cards_out_of_balance().values_list(
                "card_number", "points_balance", "ledger_points", "stamp_count", "ledger_stamps"
            )
        )
        for number, points, ledger_points, stamps, ledger_stamps in bad:
            self.stdout.write(
                f"{number}: points {points} but ledger says {ledger_points}; "
                f"stamps {stamps} but ledger says {ledger_stamps}"
            )
        if bad:
            raise CommandError(f"{len(bad)} of {total} cards differ from their ledger.")
        self.stdout.write(self.style.SUCCESS(f"All {total} cards match their ledger."))
