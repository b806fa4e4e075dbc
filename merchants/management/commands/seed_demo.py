import datetime
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from customers.services import enroll_customer
from loyalty import services
from loyalty.models import LoyaltyProgram, Reward, Tier
from merchants import pins
from merchants.models import Merchant, StaffMember, Store

PASSWORD = "demo-pass-1234"
PIN = "1234"

MERCHANTS = [
    {
        "slug": "demo-coffee",
        "name": "Demo Coffee",
        "stores": [("main", "Main Street"), ("station", "Station Kiosk")],
        "program": {
            "name": "Coffee Club",
            "kind": LoyaltyProgram.Kind.HYBRID,
            "stamps_target": 8,
            "stamp_reward_description": "A free coffee of your choice",
            "stamp_cooldown_minutes": 1,
            "max_stamps_per_day": 5,
            "points_per_euro": Decimal("1.00"),
            "min_purchase": Decimal("2.00"),
            "welcome_bonus": 50,
            "points_expiry_days": 365,
            "birthday_bonus_points": 100,
            "require_staff_pin": True,
            "background_color": "#3b2417",
            "foreground_color": "#ffffff",
            "label_color": "#f3d9b1",
            "logo_text": "Demo Coffee",
        },
        "rewards": [("Croissant", 80), ("Free coffee", 120), ("Coffee beans 250 g", 400)],
        "tiers": [("Silver", 500, "1.25"), ("Gold", 1500, "1.50")],
        "staff": [
            ("owner", StaffMember.Role.OWNER, ["main", "station"]),
            ("manager", StaffMember.Role.MANAGER, ["main", "station"]),
            ("cashier", StaffMember.Role.CASHIER, ["main"]),
        ],
        "customers": [
            ("Alice", "Martin", "alice@example.com", "+33612345678", datetime.date(1990, 4, 12), 3, "12.50"),
            ("Bruno", "Leroy", "bruno@example.com", "+33698765432", datetime.date(1985, 11, 30), 7, "48.00"),
            ("Chloé", "Dubois", "chloe@example.com", "+33611223344", datetime.date(2001, 1, 5), 0, None),
        ],
    },
    {
        "slug": "demo-bakery",
        "name": "Demo Bakery",
        "stores": [("main", "Bakery Main")],
        "program": {
            "name": "Bread Stamps",
            "kind": LoyaltyProgram.Kind.STAMPS,
            "stamps_target": 10,
            "stamp_reward_description": "A free baguette",
            "stamp_cooldown_minutes": 0,
            "max_stamps_per_day": None,
            "points_per_euro": Decimal("0.00"),
            "min_purchase": Decimal("0.00"),
            "welcome_bonus": 0,
            "points_expiry_days": None,
            "require_staff_pin": False,
            "background_color": "#7c2d12",
            "foreground_color": "#ffffff",
            "label_color": "#fed7aa",
            "logo_text": "Demo Bakery",
        },
        "rewards": [("Baguette", 1)],
        # The reward ladder: the program's own reward at 10 stamps, a coffee at 5 and a cake at 15.
        "stamp_rewards": [("Coffee", 5), ("Celebration cake", 15)],
        "staff": [
            ("bakery-owner", StaffMember.Role.OWNER, ["main"]),
            ("bakery-cashier", StaffMember.Role.CASHIER, ["main"]),
        ],
        "customers": [
            ("David", "Bernard", "david@example.com", "+33655443322", datetime.date(1978, 6, 21), 4, None),
            ("Emma", "Petit", "emma@example.com", "+33677889900", datetime.date(1995, 9, 9), 9, None),
        ],
    },
]


class Command(BaseCommand):
    help = "Create the demo merchants, staff, programs and customers (safe to run again)."

    @transaction.atomic
    def handle(self, *args, **options):
        User = get_user_model()
        for spec in MERCHANTS:
            merchant, _ = Merchant.objects.update_or_create(
                slug=spec["slug"], defaults={"name": spec["name"], "is_active": True, "enrollment_open": True}
            )
            stores = {}
            for code, name in spec["stores"]:
                stores[code], _ = Store.objects.update_or_create(
                    merchant=merchant, code=code, defaults={"name": name, "is_active": True}
                )
            program, _ = LoyaltyProgram.objects.update_or_create(
                merchant=merchant, is_active=True, defaults=spec["program"]
            )
            for name, cost in spec["rewards"]:
                Reward.objects.update_or_create(program=program, name=name, defaults={"points_cost": cost})
            for name, cost in spec.get("stamp_rewards", []):
                Reward.objects.update_or_create(
                    program=program, name=name, defaults={"stamps_cost": cost, "points_cost": None}
                )
            for name, threshold, multiplier in spec.get("tiers", []):
                Tier.objects.update_or_create(
                    program=program, name=name, defaults={"min_points_12m": threshold, "points_multiplier": multiplier}
                )
            for username, role, store_codes in spec["staff"]:
                user, _ = User.objects.get_or_create(username=username)
                if not user.check_password(PASSWORD):
                    user.set_password(PASSWORD)
                user.is_staff = role in (StaffMember.Role.OWNER, StaffMember.Role.MANAGER)
                user.email = f"{username}@{spec['slug']}.example"
                user.save()
                member, _ = StaffMember.objects.update_or_create(
                    user=user, defaults={"merchant": merchant, "role": role}
                )
                member.stores.set([stores[code] for code in store_codes])
                if not pins.pin_matches(member.pin_hash, PIN):
                    pins.set_pin(staff=member, pin=PIN)
            first_store = stores[spec["stores"][0][0]]
            owner = User.objects.get(username=spec["staff"][0][0])
            for first, last, email, phone, birth, stamps, purchase in spec["customers"]:
                enrollment = enroll_customer(
                    merchant=merchant,
                    store=first_store,
                    first_name=first,
                    last_name=last,
                    email=email,
                    phone=phone,
                    birth_date=birth,
                    marketing_opt_in=True,
                )
                if not enrollment.created:
                    continue
                card = enrollment.card
                if stamps:
                    services.adjust_balance(
                        card=card,
                        staff_user=owner,
                        stamps_delta=stamps,
                        reason="Demo data: stamps from the old paper card",
                    )
                if purchase:
                    services.earn_points(
                        card=card,
                        purchase_amount=Decimal(purchase),
                        store=first_store,
                        staff_user=owner,
                        order_reference=f"DEMO-{card.pk}",
                    )
            self.stdout.write(
                f"{merchant.name}: {len(stores)} store(s), program '{program.name}', "
                f"{merchant.customers.count()} customer(s)"
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data ready. Logins: owner, manager, cashier, bakery-owner, bakery-cashier; "
                f"password {PASSWORD}, PIN {PIN}."
            )
        )
