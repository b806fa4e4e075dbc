"""The signed ``.pkpass`` of a card: pass.json, images, manifest.json and a detached PKCS#7 signature."""

import hashlib
import io
import json
import zipfile

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext

from loyalty.models import LoyaltyCard
from wallet import branding, notices
from wallet.credentials import AppleSigningCredentials, apple_signing_credentials

PKPASS_CONTENT_TYPE = "application/vnd.apple.pkpass"


def web_service_url() -> str:
    return f"{settings.LOYALTY_PUBLIC_BASE_URL}/wallet/apple"


def pass_json(card: LoyaltyCard) -> dict:
    """The pass.json of a storeCard. ``serialNumber`` and ``authenticationToken`` never change for a card."""
    program = card.program
    merchant = card.merchant
    customer = card.customer
    points = {
        "key": "points",
        "label": "Points",
        "value": card.points_balance,
        # Without a changeMessage an update is silent; %@ is the new value.
        "changeMessage": "You now have %@ points.",
    }
    stamps = {
        "key": "stamps",
        "label": f"Stamps (of {program.stamps_target})",
        "value": card.stamp_count,
        "changeMessage": "You now have %@ stamps.",
    }
    # The stamp ladder: the best reward ready and the next one to reach (wallet/notices.py).
    reward = {"key": "reward", "label": "Reward", "value": notices.stamp_progress(card)}
    member = {"key": "member", "label": "Member", "value": f"{customer.first_name} {customer.last_name}".strip()}
    number = {"key": "card_number", "label": "Card number", "value": card.card_number}
    auxiliary = [number]
    tier = notices.tier_name(card)
    if tier:
        with translation.override(notices.customer_language(card)):
            auxiliary.append(
                {
                    "key": "tier",
                    "label": gettext("Tier"),
                    "value": tier,
                    "changeMessage": gettext("Your tier is now %@."),
                }
            )

    header, secondary = [], []
    if program.kind == program.Kind.STAMPS:
        header.append(stamps)
        secondary.append(reward)
    elif program.kind == program.Kind.POINTS:
        header.append(points)
    else:
        header.append(points)
        secondary.extend([stamps, reward])
    secondary.append(member)

    back = [
        {"key": "program", "label": "Program", "value": program.name},
        {"key": "back_card_number", "label": "Card number", "value": card.card_number},
    ]
    if program.uses_stamps:
        back.append(
            {
                "key": "stamp_rule",
                "label": "Stamp card",
                "value": f"{program.stamps_target} stamps: {program.stamp_reward_description}",
            }
        )
    if program.card_description:
        back.append({"key": "about", "label": "About", "value": program.card_description})
    # A reward ready, points about to expire: announced on the lock screen by their changeMessage.
    back.extend(notices.apple_fields(card, notices.card_notices(card)))

    data = {
        "formatVersion": 1,
        "passTypeIdentifier": settings.LOYALTY_APPLE_PASS_TYPE_ID,
        "teamIdentifier": settings.LOYALTY_APPLE_TEAM_ID,
        "serialNumber": card.apple_serial_number,
        "authenticationToken": card.apple_auth_token,
        "webServiceURL": web_service_url(),
        "organizationName": merchant.name,
        "description": program.card_description or f"{merchant.name} loyalty card",
        "logoText": branding.brand_name(program),
        "foregroundColor": branding.css_rgb(program.foreground_color),
        "backgroundColor": branding.css_rgb(program.background_color),
        "labelColor": branding.css_rgb(program.label_color),
        "sharingProhibited": True,
        # QR first: the same data as the card page's QR code. No relevantDate: a store card
        # with one shows as expired after that day.
        "barcodes": [
            {
                "format": "PKBarcodeFormatQR",
                "message": card.qr_code_data,
                "messageEncoding": "iso-8859-1",
                "altText": card.card_number,
            }
        ],
        "storeCard": {
            "headerFields": header,
            "secondaryFields": secondary,
            "auxiliaryFields": auxiliary,
            "backFields": back,
        },
    }
    if not card.is_active or card.deleted_at is not None:
        data["voided"] = True
    return data


def manifest(files: dict[str, bytes]) -> bytes:
    """manifest.json: the SHA-1 of every other file (one per line, so the signature must be Binary)."""
    digests = {name: hashlib.sha1(content).hexdigest() for name, content in sorted(files.items())}
    return json.dumps(digests, indent=2).encode()


def sign(manifest_bytes: bytes, credentials: AppleSigningCredentials) -> bytes:
    """PKCS#7 detached DER, SHA-256, signing time included, pass certificate as signer, WWDR attached.

    Binary: the manifest is signed byte for byte (no MIME newline canonicalisation, which
    breaks the signature of a manifest with newlines). cryptography adds the signing-time
    attribute Wallet requires.
    """
    return (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(manifest_bytes)
        .add_signer(credentials.certificate, credentials.private_key, hashes.SHA256())
        .add_certificate(credentials.wwdr)
        .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary])
    )


def pass_files(card: LoyaltyCard) -> dict[str, bytes]:
    """Every file of the pass but the manifest and the signature."""
    files = {"pass.json": json.dumps(pass_json(card), ensure_ascii=False, indent=2).encode()}
    files.update(branding.apple_pass_images(card.program))
    return files


def build_pkpass(card: LoyaltyCard, credentials: AppleSigningCredentials | None = None) -> bytes:
    credentials = credentials or apple_signing_credentials()
    files = pass_files(card)
    files["manifest.json"] = manifest(files)
    files["signature"] = sign(files["manifest.json"], credentials)
    # Entries dated with the card's modification time: the same card version gives the same bytes
    # apart from the signature's signing time.
    stamp = timezone.localtime(card.updated_at).timetuple()[:6]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content)
    return buffer.getvalue()
