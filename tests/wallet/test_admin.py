from django.urls import reverse
from django.utils import timezone

from tests.factories import StaffMemberFactory, UserFactory, make_card
from wallet import delivery
from wallet.models import AppleDeviceRegistration, GoogleWalletClass, WalletUpdate

CHANGELIST = "admin:wallet_walletpass_changelist"


def test_wallet_state_of_each_card(client, card):
    AppleDeviceRegistration.objects.create(device_library_identifier="dev", card=card, push_token="tok")
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    response = client.get(reverse(CHANGELIST))
    assert response.status_code == 200
    row = response.context["cl"].result_list.get(pk=card.pk)
    assert row._devices == 1
    assert row._pending == 1  # the issue-time update
    assert row._last_pushed is None
    assert card.apple_serial_number in response.content.decode()

    delivery.deliver_pending(card.pk)
    row = client.get(reverse(CHANGELIST)).context["cl"].result_list.get(pk=card.pk)
    assert row._pending == 0
    assert row._last_pushed is not None

    detail = client.get(reverse("admin:wallet_walletpass_change", args=[card.pk]))
    assert detail.status_code == 200
    assert "dev" in detail.content.decode()

    updates = client.get(reverse("admin:wallet_walletupdate_changelist") + f"?card__id__exact={card.pk}")
    assert updates.status_code == 200
    assert [u.card_id for u in updates.context["cl"].result_list] == [card.pk]


def test_resend_action_queues_an_update_now(client, card):
    delivery.deliver_pending(card.pk)
    GoogleWalletClass.objects.create(program=card.program, class_id="x.y", program_updated_at=timezone.now())
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    response = client.post(reverse(CHANGELIST), {"action": "resend", "_selected_action": [card.pk]}, follow=True)
    assert response.status_code == 200
    assert WalletUpdate.objects.filter(card=card, status=WalletUpdate.Status.PENDING).count() == 1
    assert not GoogleWalletClass.objects.exists(), "the class is pushed again too"


def test_merchant_sees_only_its_own_cards(client, card, manager):
    other = make_card()
    client.force_login(manager.user)
    response = client.get(reverse(CHANGELIST))
    assert response.status_code == 200
    assert list(response.context["cl"].result_list.values_list("pk", flat=True)) == [card.pk]
    assert client.get(reverse("admin:wallet_walletpass_change", args=[other.pk])).status_code in (302, 404)


def test_cashier_has_no_wallet_admin(client, cashier):
    client.force_login(cashier.user)
    assert client.get(reverse(CHANGELIST)).status_code in (302, 403)


def test_another_merchants_manager_cannot_resend(client, card):
    outsider = StaffMemberFactory(role="manager")
    client.force_login(outsider.user)
    delivery.deliver_pending(card.pk)
    client.post(reverse(CHANGELIST), {"action": "resend", "_selected_action": [card.pk]})
    assert not WalletUpdate.objects.filter(card=card, status=WalletUpdate.Status.PENDING).exists()
