"""Devices registering for a pass's pushes (Apple's PassKit web service, register / unregister).

A registration is one (device, card) row and only ever changes itself: a device registering its
own pass never touches the rows of other passes on that device (another merchant's, say). When
a device's push token changes, Wallet registers each of its passes again, each with the new token.

A card keeps at most ``MAX_REGISTRATIONS_PER_CARD`` devices. A new device beyond that evicts the
one that registered least recently: a customer's new phone always gets updates, and a pass shared
around (its token is in the pass) cannot grow the table or the pushes of one balance change
without bound. Devices that dropped the pass unregister, and APNs' 410 removes dead ones.
"""

import logging
import re

from django.db import transaction
from django.utils import timezone

from loyalty.models import LoyaltyCard
from wallet.models import AppleDeviceRegistration

logger = logging.getLogger(__name__)

MAX_REGISTRATIONS_PER_CARD = 20
# Push tokens are opaque and of any length (SPEC): Apple's are 64 hexadecimal characters today, a
# 164-character one overflowed a varchar(150) once. 512 characters of hexadecimal or base64 leave
# room for any of those; 2 MB of anything does not.
MAX_PUSH_TOKEN_LENGTH = 512
PUSH_TOKEN = re.compile(rf"[A-Za-z0-9+/=_-]{{1,{MAX_PUSH_TOKEN_LENGTH}}}")


def is_valid_push_token(token: str) -> bool:
    return bool(PUSH_TOKEN.fullmatch(token))


def register_device(*, device: str, card: LoyaltyCard, push_token: str) -> bool:
    """Store the device's push token for this card; True when the registration is new."""
    now = timezone.now()
    with transaction.atomic():
        # One registration of a card at a time, so the cap counts what is really there.
        LoyaltyCard.objects.select_for_update().filter(pk=card.pk).values_list("pk", flat=True).first()
        mine = AppleDeviceRegistration.objects.filter(device_library_identifier=device, card=card)
        if mine.update(push_token=push_token, updated_at=now):
            return False
        oldest = list(
            AppleDeviceRegistration.objects.filter(card=card)
            .order_by("-updated_at", "-pk")
            .values_list("pk", flat=True)[MAX_REGISTRATIONS_PER_CARD - 1 :]
        )
        if oldest:
            AppleDeviceRegistration.objects.filter(pk__in=oldest).delete()
            logger.info("Card %s: %d least recent Apple device registration(s) evicted", card.pk, len(oldest))
        AppleDeviceRegistration.objects.create(device_library_identifier=device, card=card, push_token=push_token)
    return True


def unregister_device(*, device: str, card: LoyaltyCard) -> None:
    AppleDeviceRegistration.objects.filter(device_library_identifier=device, card=card).delete()
