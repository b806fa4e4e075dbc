"""Which Google Wallet updates notify the customer: new notices only, at most 3 a pass a day.

Google shows a notification for an object patch with ``notifyPreference: NOTIFY_ON_UPDATE``
and for a message of type ``TEXT_AND_NOTIFY``, and allows 3 such notifying updates per pass
in 24 hours. Balance changes always update silently. A notice (wallet/notices.py) notifies the
first time it appears, while the card has had fewer than 3 notifying updates in the last 24
hours; beyond that it is shown silently (``TEXT``). The card keeps what was announced and when
it last notified in ``google_notices``.
"""

import datetime
from collections.abc import Iterable
from dataclasses import dataclass, field

from loyalty.models import LoyaltyCard
from wallet.notices import Notice

NOTIFY_LIMIT = 3
NOTIFY_WINDOW = datetime.timedelta(hours=24)


@dataclass(frozen=True)
class NotifyPlan:
    notify: bool
    notify_ids: frozenset[str] = field(default_factory=frozenset)
    state: dict = field(default_factory=dict)


def recent_notifications(card: LoyaltyCard, now: datetime.datetime) -> list[str]:
    recent = []
    for value in (card.google_notices or {}).get("notified", []):
        try:
            moment = datetime.datetime.fromisoformat(value)
        except (TypeError, ValueError):
            continue
        if moment > now - NOTIFY_WINDOW:
            recent.append(value)
    return recent


def plan(card: LoyaltyCard, notices: Iterable[Notice], now: datetime.datetime) -> NotifyPlan:
    notices = list(notices)
    announced = set((card.google_notices or {}).get("announced", []))
    new_ids = frozenset(notice.id for notice in notices if notice.id not in announced)
    recent = recent_notifications(card, now)
    notify = bool(new_ids) and len(recent) < NOTIFY_LIMIT
    if notify:
        recent.append(now.isoformat())
    state = {"announced": [notice.id for notice in notices], "notified": recent}
    return NotifyPlan(notify=notify, notify_ids=new_ids if notify else frozenset(), state=state)


def messages(notices: Iterable[Notice], notify_ids: Iterable[str] = ()) -> list[dict]:
    notify_ids = set(notify_ids)
    return [
        {
            "id": notice.id,
            "header": notice.header,
            "body": notice.body,
            "messageType": "TEXT_AND_NOTIFY" if notice.id in notify_ids else "TEXT",
        }
        for notice in notices
    ]
