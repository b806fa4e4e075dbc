"""Google Wallet loyalty class (per program) and loyalty object (per card) bodies and ids."""

from django.conf import settings
from django.urls import reverse

from loyalty.models import LoyaltyCard, LoyaltyProgram
from wallet.apple.tags import update_tag


def class_id(program: LoyaltyProgram) -> str:
    return f"{settings.LOYALTY_GOOGLE_ISSUER_ID}.program-{program.pk}"


def object_id(card: LoyaltyCard) -> str:
    # The card's random, never-changing serial: unique across databases sharing one issuer.
    return f"{settings.LOYALTY_GOOGLE_ISSUER_ID}.card-{card.apple_serial_number}"


def _text(value: str) -> dict:
    return {"defaultValue": {"language": settings.LANGUAGE_CODE, "value": value}}


def program_logo_url(program: LoyaltyProgram) -> str:
    path = reverse("wallet:google-program-logo", args=[program.pk])
    # The version makes Google fetch the logo again after a branding change.
    return f"{settings.LOYALTY_PUBLIC_BASE_URL}{path}?v={update_tag(program.updated_at)}"


def class_body(program: LoyaltyProgram) -> dict:
    merchant = program.merchant
    body = {
        "id": class_id(program),
        "issuerName": merchant.name,
        "programName": program.logo_text or program.name,
        "programLogo": {
            "sourceUri": {"uri": program_logo_url(program)},
            "contentDescription": _text(f"{merchant.name} logo"),
        },
        "hexBackgroundColor": program.background_color,
        "reviewStatus": "UNDER_REVIEW",
        "accountIdLabel": "Card number",
        "accountNameLabel": "Member",
    }
    if program.uses_stamps:
        body["textModulesData"] = [
            {
                "id": "stamp_rule",
                "header": "Stamp card",
                "body": f"{program.stamps_target} stamps: {program.stamp_reward_description}",
            }
        ]
    if program.card_description:
        body["programDetails"] = program.card_description
    return body


def object_body(card: LoyaltyCard, *, notices: list | None = None, notify_ids=()) -> dict:
    """The loyalty object; ``notices`` (wallet/notices.py) become its messages, those in ``notify_ids`` notifying."""
    from wallet.google import notify
    from wallet.notices import card_notices, stamp_progress, tier_name

    program = card.program
    customer = card.customer
    active = card.is_active and card.deleted_at is None
    body = {
        "id": object_id(card),
        "classId": class_id(program),
        "state": "ACTIVE" if active else "INACTIVE",
        "accountId": card.card_number,
        "accountName": f"{customer.first_name} {customer.last_name}".strip() or card.card_number,
        "barcode": {"type": "QR_CODE", "value": card.qr_code_data, "alternateText": card.card_number},
    }
    if program.kind == program.Kind.STAMPS:
        body["loyaltyPoints"] = {"label": "Stamps", "balance": {"int": card.stamp_count}}
    else:
        body["loyaltyPoints"] = {"label": "Points", "balance": {"int": card.points_balance}}
        if program.kind == program.Kind.HYBRID:
            body["secondaryLoyaltyPoints"] = {"label": "Stamps", "balance": {"int": card.stamp_count}}
    modules = []
    if program.uses_stamps:
        modules.append({"id": "reward", "header": "Next reward", "body": stamp_progress(card)})
    tier = tier_name(card)
    if tier:
        modules.append({"id": "tier", "header": "Tier", "body": tier})
    if modules:
        body["textModulesData"] = modules
    # Always sent (an empty list clears messages of facts that no longer hold).
    body["messages"] = notify.messages(card_notices(card) if notices is None else notices, notify_ids)
    return body
