"""What a card's wallet pass announces: a reward ready to collect, points about to expire.

Both wallets draw the same notices, in the customer's language: Apple as pass fields with a
``changeMessage`` (the lock screen shows it when the value changes), Google as object messages
(wallet/google/notify.py decides which ones notify, within Google's cap). A notice's ``id``
stays the same while the fact holds (``reward:stamps``, ``reward:points:<reward>``,
``expiry:<date>``), so a fact is announced once and a new fact (the next reward, a new expiry
date after activity) is announced again.
"""

import datetime
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext, ngettext

from loyalty.models import LoyaltyCard
from loyalty.selectors import cheapest_reward, points_expiry, stamp_ladder

REWARD = "reward"
EXPIRY = "expiry"


@dataclass(frozen=True)
class Notice:
    id: str
    kind: str  # REWARD or EXPIRY
    value: str  # short: the Apple field's value
    header: str  # the Google message
    body: str


def customer_language(card: LoyaltyCard) -> str:
    return card.customer.preferred_language or settings.LANGUAGE_CODE


def card_notices(card: LoyaltyCard, today: datetime.date | None = None) -> list[Notice]:
    """The card's current notices, in the customer's language (none for an inactive card)."""
    if not card.is_active or card.deleted_at is not None:
        return []
    today = today or timezone.localdate()
    with translation.override(customer_language(card)):
        notices = []
        reward = reward_notice(card)
        if reward is not None:
            notices.append(reward)
        expiry = expiry_notice(card, today)
        if expiry is not None:
            notices.append(expiry)
        return notices


def ready_rewards(card: LoyaltyCard) -> list[tuple[str, str]]:
    """(key, name) of each reward the card can collect now: every rung of the stamp ladder its stamps
    reach (the program's own is ``stamps``, a stamps reward ``stamps:<id>``), the cheapest points reward.

    A reward is ready as soon as the stamps reach the cheapest rung; reaching a further rung is a new
    fact (a new notice id), announced again.
    """
    program = card.program
    ready = []
    for rung in stamp_ladder(card):
        if rung.available:
            ready.append(("stamps" if rung.reward is None else f"stamps:{rung.reward.pk}", rung.localized_name))
    cheapest = cheapest_reward(program)
    if cheapest is not None and cheapest.points_cost <= card.points_balance:
        ready.append((f"points:{cheapest.pk}", cheapest.localized_name))
    return ready


def reward_notice(card: LoyaltyCard) -> Notice | None:
    ready = ready_rewards(card)
    if not ready:
        return None
    names = ", ".join(name for _, name in ready)
    return Notice(
        id="reward:" + "+".join(key for key, _ in ready),
        kind=REWARD,
        value=names,
        header=gettext("Reward available"),
        body=gettext("Ready to collect: %(rewards)s. Show your card at the till.") % {"rewards": names},
    )


def expiry_notice(card: LoyaltyCard, today: datetime.date) -> Notice | None:
    from customers.birth_dates import date_in_words

    expiry = points_expiry(card)
    if expiry is None or not expiry.is_near(today):
        return None
    date = date_in_words(expiry.expires_on)
    return Notice(
        id=f"expiry:{expiry.expires_on.isoformat()}",
        kind=EXPIRY,
        value=ngettext("%(count)d point on %(date)s", "%(count)d points on %(date)s", expiry.points)
        % {"count": expiry.points, "date": date},
        header=gettext("Points expiring"),
        body=ngettext(
            "%(count)d point expires on %(date)s. Use your card before then to keep it.",
            "%(count)d points expire on %(date)s. Use your card before then to keep them.",
            expiry.points,
        )
        % {"count": expiry.points, "date": date},
    )


def stamp_progress(card: LoyaltyCard) -> str:
    """The pass's "next reward" text, in the customer's language: what is ready, and the next rung."""
    ladder = stamp_ladder(card)
    ready = [rung for rung in ladder if rung.available]
    upcoming = next((rung for rung in ladder if not rung.available), None)
    with translation.override(customer_language(card)):
        parts = []
        if ready:
            parts.append(gettext("Ready: %(reward)s") % {"reward": ready[-1].localized_name})
        if upcoming is not None:
            left = upcoming.stamps_cost - card.stamp_count
            parts.append(
                ngettext("%(count)d more stamp for %(reward)s", "%(count)d more stamps for %(reward)s", left)
                % {"count": left, "reward": upcoming.localized_name}
            )
        return "; ".join(parts)


def tier_name(card: LoyaltyCard) -> str:
    if card.tier is None:
        return ""
    with translation.override(customer_language(card)):
        return card.tier.localized_name


def apple_fields(card: LoyaltyCard, notices: list[Notice]) -> list[dict]:
    """Back fields for pass.json: always present (so a change is a change of value), with a
    ``changeMessage`` only while there is something to announce (a redemption stays silent)."""
    program = card.program
    by_kind = {notice.kind: notice for notice in notices}
    fields = []
    with translation.override(customer_language(card)):
        reward = by_kind.get(REWARD)
        field = {"key": "reward_ready", "label": gettext("Reward available"), "value": reward.value if reward else "—"}
        if reward:
            field["changeMessage"] = gettext("Reward available: %@")
        fields.append(field)
        if program.uses_points and program.points_expiry_days:
            expiry = by_kind.get(EXPIRY)
            field = {"key": "expiry", "label": gettext("Points expiring"), "value": expiry.value if expiry else "—"}
            if expiry:
                field["changeMessage"] = gettext("Points expiring: %@")
            fields.append(field)
    return fields
