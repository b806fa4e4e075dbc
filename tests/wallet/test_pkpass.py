import hashlib
import io
import json
import shutil
import subprocess
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from loyalty import services
from tests.factories import make_card
from tests.wallet import fakes
from tests.wallet.conftest import PUBLIC_BASE_URL
from wallet.apple import PKPASS_CONTENT_TYPE, build_pkpass

REQUIRED_KEYS = {
    "formatVersion",
    "passTypeIdentifier",
    "teamIdentifier",
    "serialNumber",
    "authenticationToken",
    "webServiceURL",
    "organizationName",
    "description",
    "barcodes",
    "storeCard",
    "backgroundColor",
    "foregroundColor",
    "labelColor",
}

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command is not installed")


def unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def all_fields(store_card: dict) -> dict[str, dict]:
    return {
        f["key"]: f
        for group in ("headerFields", "primaryFields", "secondaryFields", "auxiliaryFields", "backFields")
        for f in store_card.get(group, [])
    }


def test_pass_json_has_every_required_key(apple_wallet, card):
    data = json.loads(unzip(build_pkpass(card))["pass.json"])
    assert REQUIRED_KEYS <= data.keys()
    assert data["formatVersion"] == 1
    assert data["passTypeIdentifier"] == fakes.PASS_TYPE_ID
    assert data["teamIdentifier"] == fakes.TEAM_ID
    assert data["serialNumber"] == card.apple_serial_number
    assert data["authenticationToken"] == card.apple_auth_token
    assert len(data["authenticationToken"]) >= 16
    assert data["webServiceURL"] == f"{PUBLIC_BASE_URL}/wallet/apple"
    assert data["organizationName"] == card.merchant.name
    assert "relevantDate" not in data
    assert "voided" not in data
    qr = data["barcodes"][0]
    assert qr == {
        "format": "PKBarcodeFormatQR",
        "message": card.qr_code_data,
        "messageEncoding": "iso-8859-1",
        "altText": card.card_number,
    }
    assert data["backgroundColor"] == "rgb(31, 41, 55)"
    assert data["foregroundColor"] == "rgb(255, 255, 255)"


def test_points_and_stamps_fields_announce_changes(apple_wallet, card, store):
    services.add_stamp(card=card, store=store, staff_user=None)
    card.refresh_from_db()
    fields = all_fields(json.loads(unzip(build_pkpass(card))["pass.json"])["storeCard"])
    assert fields["points"]["value"] == card.points_balance
    assert fields["stamps"]["value"] == 1
    for key in ("points", "stamps"):
        assert "%@" in fields[key]["changeMessage"]
    assert fields["reward"]["value"] == "4 more stamps for A free coffee"
    keys = [
        f["key"] for group in json.loads(unzip(build_pkpass(card))["pass.json"])["storeCard"].values() for f in group
    ]
    assert len(keys) == len(set(keys)), "field keys are unique across the pass"


def test_stamps_only_program_has_no_points_field(apple_wallet, db):
    card = make_card(kind="stamps")
    fields = all_fields(json.loads(unzip(build_pkpass(card))["pass.json"])["storeCard"])
    assert "points" not in fields
    assert "%@" in fields["stamps"]["changeMessage"]


def test_deactivated_card_gets_a_voided_pass(apple_wallet, card):
    services.set_cards_active(card_ids=[card.pk], active=False)
    card.refresh_from_db()
    assert json.loads(unzip(build_pkpass(card))["pass.json"])["voided"] is True


def test_manifest_hashes_every_file(apple_wallet, card):
    files = unzip(build_pkpass(card))
    assert {"pass.json", "manifest.json", "signature", "icon.png", "icon@2x.png", "logo.png", "logo@2x.png"} <= set(
        files
    )
    manifest = json.loads(files["manifest.json"])
    assert set(manifest) == set(files) - {"manifest.json", "signature"}
    for name, digest in manifest.items():
        assert hashlib.sha1(files[name]).hexdigest() == digest, name
    assert b"\n" in files["manifest.json"], "a manifest with newlines proves the Binary signing option"


def test_generated_images_have_apples_sizes(apple_wallet, card):
    files = unzip(build_pkpass(card))
    assert Image.open(io.BytesIO(files["icon.png"])).size == (29, 29)
    assert Image.open(io.BytesIO(files["icon@2x.png"])).size == (58, 58)
    assert Image.open(io.BytesIO(files["logo@2x.png"])).size[1] <= 100


def test_program_logo_is_used(apple_wallet, card, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    buffer = io.BytesIO()
    Image.new("RGB", (400, 200), (200, 0, 0)).save(buffer, format="PNG")
    program = card.program
    program.logo = SimpleUploadedFile("logo.png", buffer.getvalue(), content_type="image/png")
    program.save()
    card.refresh_from_db()
    logo = Image.open(io.BytesIO(unzip(build_pkpass(card))["logo@2x.png"])).convert("RGB")
    assert logo.size == (200, 100)  # fits 320x100, aspect kept
    assert logo.getpixel((100, 50)) == (200, 0, 0)


@needs_openssl
def test_signature_verifies_with_openssl(apple_wallet, card, tmp_path):
    files = unzip(build_pkpass(card))
    (tmp_path / "manifest.json").write_bytes(files["manifest.json"])
    (tmp_path / "signature").write_bytes(files["signature"])
    result = subprocess.run(
        [
            "openssl",
            "smime",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            str(tmp_path / "signature"),
            "-content",
            str(tmp_path / "manifest.json"),
            "-CAfile",
            apple_wallet.path("wwdr.pem"),
            "-purpose",
            "any",
            "-out",
            str(tmp_path / "verified"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "Verification successful" in result.stderr
    assert (tmp_path / "verified").read_bytes() == files["manifest.json"]


@needs_openssl
def test_signature_is_sha256_with_signing_time_and_both_certificates(apple_wallet, card, tmp_path):
    (tmp_path / "signature").write_bytes(unzip(build_pkpass(card))["signature"])
    parsed = subprocess.run(
        ["openssl", "cms", "-cmsout", "-print", "-inform", "DER", "-in", str(tmp_path / "signature")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "signingTime" in parsed
    assert "sha256" in parsed
    assert "eContent: <ABSENT>" in parsed  # detached
    assert f"UID={fakes.PASS_TYPE_ID}" in parsed.replace("userId", "UID").replace(" = ", "=")
    assert "Fake Apple Worldwide Developer Relations" in parsed


@needs_openssl
def test_tampered_manifest_fails_verification(apple_wallet, card, tmp_path):
    files = unzip(build_pkpass(card))
    (tmp_path / "manifest.json").write_bytes(files["manifest.json"].replace(b"\n", b"\r\n"))
    (tmp_path / "signature").write_bytes(files["signature"])
    result = subprocess.run(
        [
            "openssl",
            "smime",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            str(tmp_path / "signature"),
            "-content",
            str(tmp_path / "manifest.json"),
            "-CAfile",
            apple_wallet.path("wwdr.pem"),
            "-purpose",
            "any",
        ],
        capture_output=True,
    )
    assert result.returncode != 0


def test_card_download_serves_the_pkpass(apple_wallet, client, card):
    response = client.get(reverse("wallet:apple-card-pass", args=[card.qr_code_data]))
    assert response.status_code == 200
    assert response["Content-Type"] == PKPASS_CONTENT_TYPE
    assert response["Last-Modified"]
    assert "attachment" in response["Content-Disposition"]
    assert json.loads(unzip(response.content)["pass.json"])["serialNumber"] == card.apple_serial_number


def test_card_download_of_unknown_or_deleted_card_is_404(apple_wallet, client, card):
    assert client.get(reverse("wallet:apple-card-pass", args=["nope"])).status_code == 404
    services.soft_delete_cards(card_ids=[card.pk])
    assert client.get(reverse("wallet:apple-card-pass", args=[card.qr_code_data])).status_code == 404


def test_card_download_is_404_when_apple_wallet_is_off(client, card):
    assert client.get(f"/wallet/apple/card/{card.qr_code_data}.pkpass").status_code == 404
