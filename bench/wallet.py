"""Wallet: .pkpass build + sign per second on one core, and Google "Save to Wallet" JWTs per second.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/loyalty_bench .venv/bin/python bench/wallet.py [--seconds 5]

Throwaway credentials are generated the way the tests make them (tests/wallet/fakes.py: a fake
WWDR CA, a pass certificate, an RSA-2048 service-account key). One process, one thread, so the
figures are per core. The pass is the product's: pass.json, the four images drawn from the
program's branding, manifest.json, a PKCS#7 detached signature (RSA-2048, SHA-256), zipped.
The breakdown shows where the time goes; the limit beside it is the RSA-2048 private-key
operation alone (one per pass, one per JWT), measured with the same library. The pass images
depend only on the program's branding and are drawn once per branding and process
(wallet/branding.py); the row "drawn" is that first time.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import emit_result, ensure_postgres_database, migrate, print_table, setup_django  # noqa: E402

SLUG = "bench-wallet"


def configure_credentials() -> Path:
    """Throwaway Apple and Google credentials in a temporary folder, named by the LOYALTY_* variables."""
    from tests.wallet import fakes

    folder = Path(tempfile.mkdtemp(prefix="bench-wallet-"))
    credentials = fakes.make_credentials(folder)
    key_file = folder / "service-account.json"
    key_file.write_text(json.dumps(credentials.service_account_json("http://127.0.0.1:9/token")))
    os.environ.update(
        {
            "LOYALTY_APPLE_PASS_TYPE_ID": fakes.PASS_TYPE_ID,
            "LOYALTY_APPLE_TEAM_ID": fakes.TEAM_ID,
            "LOYALTY_APPLE_CERT_PATH": credentials.path("pass-cert.pem"),
            "LOYALTY_APPLE_KEY_PATH": credentials.path("pass-key.pem"),
            "LOYALTY_APPLE_WWDR_CERT_PATH": credentials.path("wwdr.pem"),
            "LOYALTY_GOOGLE_SERVICE_ACCOUNT_JSON": str(key_file),
            "LOYALTY_GOOGLE_ISSUER_ID": fakes.ISSUER_ID,
        }
    )
    return folder


def bench_card():
    from customers.models import Customer
    from loyalty import services
    from loyalty.models import LoyaltyCard, LoyaltyProgram
    from merchants.models import Merchant

    merchant, _ = Merchant.objects.get_or_create(slug=SLUG, defaults={"name": "Bench Wallet Café"})
    program, _ = LoyaltyProgram.objects.get_or_create(
        merchant=merchant, is_active=True, defaults={"name": "Bench", "kind": "hybrid", "card_description": "Bench"}
    )
    customer, _ = Customer.objects.get_or_create(
        merchant=merchant, email="bench-wallet@example.com", defaults={"first_name": "Ada", "last_name": "Bench"}
    )
    card = LoyaltyCard.objects.filter(customer=customer).first() or services.issue_card(
        customer=customer, program=program
    )
    return LoyaltyCard.objects.select_related("program__merchant", "merchant", "customer").get(pk=card.pk)


def rate(function, seconds: float) -> tuple[float, int]:
    """Calls per second of ``function`` run back to back for about ``seconds`` (after one warm-up call)."""
    function()
    count, started = 0, time.perf_counter()
    deadline = started + seconds
    while True:
        function()
        count += 1
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - started), count


def measure(seconds: float) -> dict:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    from wallet import branding
    from wallet.apple import build_pkpass
    from wallet.apple.pkpass import manifest, pass_files, sign
    from wallet.credentials import apple_signing_credentials
    from wallet.google import resources
    from wallet.google.sync import save_jwt

    card = bench_card()
    credentials = apple_signing_credentials()
    files = pass_files(card)
    files["manifest.json"] = manifest(files)
    object_id, class_id = resources.object_id(card), resources.class_id(card.program)
    size = len(build_pkpass(card, credentials))
    jwt_length = len(save_jwt(object_id, class_id))

    figures = {
        "pkpass": rate(lambda: build_pkpass(card, credentials), seconds)[0],
        # Drawn afresh each time: what the first pass of a program (or of a new branding) costs.
        "images": rate(lambda: (branding._PASS_IMAGES.clear(), branding.apple_pass_images(card.program)), seconds / 2)[
            0
        ],
        "sign": rate(lambda: sign(files["manifest.json"], credentials), seconds / 2)[0],
        "rsa": rate(lambda: credentials.private_key.sign(b"x" * 64, padding.PKCS1v15(), hashes.SHA256()), seconds / 2)[
            0
        ],
        "jwt": rate(lambda: save_jwt(object_id, class_id), seconds)[0],
    }
    figures["pkpass_bytes"] = size
    figures["jwt_chars"] = jwt_length
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per measurement")
    args = parser.parse_args()
    folder = configure_credentials()
    try:
        ensure_postgres_database()
        setup_django()
        migrate()
        figures = measure(args.seconds)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    ms = {name: 1000 / figures[name] for name in ("pkpass", "images", "sign", "rsa", "jwt")}
    print_table(
        "Wallet, one core (throwaway RSA-2048 credentials)",
        ["what", "per second", "ms each", "limit: RSA-2048 signatures/s"],
        [
            [f".pkpass build + sign ({figures['pkpass_bytes']} bytes)", f"{figures['pkpass']:.0f}",
             f"{ms['pkpass']:.2f}", f"{figures['rsa']:.0f}"],
            ["  the four PNG images, drawn once per program branding", f"{figures['images']:.0f}",
             f"{ms['images']:.2f}", ""],
            ["  of which: the PKCS#7 signature", f"{figures['sign']:.0f}", f"{ms['sign']:.2f}", ""],
            [f"Google Save JWT, RS256 ({figures['jwt_chars']} chars)", f"{figures['jwt']:.0f}", f"{ms['jwt']:.2f}",
             f"{figures['rsa']:.0f}"],
        ],
    )  # fmt: skip
    emit_result("wallet", figures)


if __name__ == "__main__":
    main()
