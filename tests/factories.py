import datetime
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model

from customers.models import Customer
from loyalty import services
from loyalty.models import LoyaltyProgram, Reward
from merchants import pins
from merchants.models import Merchant, StaffMember, Store


class MerchantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Merchant

    name = factory.Sequence(lambda n: f"Merchant {n}")
    slug = factory.Sequence(lambda n: f"merchant-{n}")


class StoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Store

    merchant = factory.SubFactory(MerchantFactory)
    code = factory.Sequence(lambda n: f"store-{n}")
    name = factory.Sequence(lambda n: f"Store {n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pass-word-1234")


class StaffMemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StaffMember
        skip_postgeneration_save = True

    user = factory.SubFactory(UserFactory, is_staff=factory.LazyAttribute(lambda o: True))
    merchant = factory.SubFactory(MerchantFactory)
    role = StaffMember.Role.CASHIER
    pin_hash = factory.LazyFunction(lambda: pins.make_pin_hash("1234"))

    @factory.post_generation
    def stores(self, create, extracted, **kwargs):
        if create and extracted:
            self.stores.set(extracted)


class ProgramFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LoyaltyProgram

    merchant = factory.SubFactory(MerchantFactory)
    name = "Club"
    kind = LoyaltyProgram.Kind.HYBRID
    stamps_target = 5
    stamp_cooldown_minutes = 0
    max_stamps_per_day = None
    points_per_euro = Decimal("1.00")
    min_purchase = Decimal("0.00")
    welcome_bonus = 0
    points_expiry_days = None


class RewardFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Reward

    program = factory.SubFactory(ProgramFactory)
    name = factory.Sequence(lambda n: f"Reward {n}")
    points_cost = 50


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    merchant = factory.SubFactory(MerchantFactory)
    first_name = "Ada"
    last_name = factory.Sequence(lambda n: f"Lovelace{n}")
    email = factory.Sequence(lambda n: f"customer{n}@example.com")
    phone = factory.Sequence(lambda n: f"+336{n:08d}")
    birth_date = datetime.date(1990, 5, 17)


def make_card(program=None, store=None, customer=None, **program_fields):
    """A card issued through the service, as enrollment does."""
    program = program or ProgramFactory(**program_fields)
    customer = customer or CustomerFactory(merchant=program.merchant)
    return services.issue_card(customer=customer, program=program, store=store)
