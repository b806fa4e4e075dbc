"""Reading the wallet credentials the LOYALTY_GOOGLE_* and LOYALTY_APPLE_* settings name.

Both the system checks (start-up validation) and the code that signs or calls the wallets
load through here, so a message always names the variable and the problem.
"""

import datetime
import functools
import json
import os
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from django.conf import settings


class CredentialError(Exception):
    """A wallet credential is unusable. ``kind`` is one of MISSING, UNREADABLE, INVALID."""

    MISSING = "missing"
    UNREADABLE = "unreadable"
    INVALID = "invalid"

    def __init__(self, variable: str, kind: str, message: str):
        super().__init__(f"{variable}: {message}")
        self.variable = variable
        self.kind = kind
        self.message = message


def read_file(variable: str, path: str) -> bytes:
    if not os.path.exists(path):
        raise CredentialError(variable, CredentialError.MISSING, f"the file {path} does not exist.")
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise CredentialError(
            variable, CredentialError.UNREADABLE, f"the file {path} cannot be read ({exc.strerror or exc})."
        ) from exc


def _file_version(path: str) -> tuple[str, int]:
    try:
        return path, os.stat(path).st_mtime_ns
    except OSError:
        return path, -1


# --- Google ------------------------------------------------------------------------------

SERVICE_ACCOUNT_FIELDS = ("type", "private_key", "client_email", "token_uri")


def load_service_account_info(path: str, variable: str = "LOYALTY_GOOGLE_SERVICE_ACCOUNT_JSON") -> dict:
    """The parsed service-account key file; raises CredentialError when it is not one."""
    raw = read_file(variable, path)
    try:
        info = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise CredentialError(
            variable, CredentialError.INVALID, f"{path} is not a service-account key (not JSON)."
        ) from exc
    if not isinstance(info, dict) or info.get("type") != "service_account":
        raise CredentialError(
            variable,
            CredentialError.INVALID,
            f'{path} is not a service-account key ("type" must be "service_account").',
        )
    missing = [field for field in SERVICE_ACCOUNT_FIELDS if not info.get(field)]
    if missing:
        raise CredentialError(
            variable,
            CredentialError.INVALID,
            f"{path} is not a service-account key (missing {', '.join(missing)}).",
        )
    try:
        serialization.load_pem_private_key(info["private_key"].encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise CredentialError(
            variable, CredentialError.INVALID, f"{path} is not a service-account key (private_key is not a PEM key)."
        ) from exc
    return info


# --- Apple -------------------------------------------------------------------------------


def load_certificate(variable: str, path: str) -> x509.Certificate:
    """A certificate in PEM or DER."""
    raw = read_file(variable, path)
    try:
        if b"-----BEGIN" in raw:
            return x509.load_pem_x509_certificate(raw)
        return x509.load_der_x509_certificate(raw)
    except ValueError as exc:
        raise CredentialError(
            variable, CredentialError.INVALID, f"{path} is not an X.509 certificate (PEM or DER)."
        ) from exc


def load_private_key(variable: str, path: str, password: str | None) -> PrivateKeyTypes:
    """A private key in PEM or DER, encrypted with ``password`` or not."""
    raw = read_file(variable, path)
    secret = password.encode() if password else None
    loader = serialization.load_pem_private_key if b"-----BEGIN" in raw else serialization.load_der_private_key
    try:
        return loader(raw, password=secret)
    except TypeError as exc:
        # cryptography: a password given for a plain key, or none given for an encrypted one.
        problem = (
            "the key is encrypted: set LOYALTY_APPLE_KEY_PASSWORD."
            if secret is None
            else "the key is not encrypted but LOYALTY_APPLE_KEY_PASSWORD is set."
        )
        raise CredentialError(variable, CredentialError.INVALID, f"{path}: {problem}") from exc
    except ValueError as exc:
        problem = (
            "cannot be decrypted with LOYALTY_APPLE_KEY_PASSWORD or is not a private key."
            if secret
            else "is not a private key (PEM or DER)."
        )
        raise CredentialError(variable, CredentialError.INVALID, f"{path} {problem}") from exc


def public_key_bytes(key) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_matches_certificate(key: PrivateKeyTypes, certificate: x509.Certificate) -> bool:
    return public_key_bytes(key.public_key()) == public_key_bytes(certificate.public_key())


def certificate_problem(certificate: x509.Certificate, now: datetime.datetime | None = None) -> str | None:
    """Why a certificate cannot be used right now (expired, not yet valid), or None."""
    now = now or datetime.datetime.now(datetime.UTC)
    if certificate.not_valid_after_utc <= now:
        return f"the certificate expired on {certificate.not_valid_after_utc:%Y-%m-%d}."
    if certificate.not_valid_before_utc > now:
        return f"the certificate is not valid before {certificate.not_valid_before_utc:%Y-%m-%d}."
    return None


@dataclass(frozen=True)
class AppleSigningCredentials:
    certificate: x509.Certificate
    private_key: PrivateKeyTypes
    wwdr: x509.Certificate
    cert_path: str
    key_path: str


def apple_signing_credentials() -> AppleSigningCredentials:
    """The pass certificate, its key and the WWDR intermediate, loaded once per file version."""
    return _apple_signing_credentials(
        _file_version(settings.LOYALTY_APPLE_CERT_PATH),
        _file_version(settings.LOYALTY_APPLE_KEY_PATH),
        settings.LOYALTY_APPLE_KEY_PASSWORD,
        _file_version(settings.LOYALTY_APPLE_WWDR_CERT_PATH),
    )


@functools.lru_cache(maxsize=4)
def _apple_signing_credentials(cert, key, password, wwdr) -> AppleSigningCredentials:
    certificate = load_certificate("LOYALTY_APPLE_CERT_PATH", cert[0])
    private_key = load_private_key("LOYALTY_APPLE_KEY_PATH", key[0], password)
    if not key_matches_certificate(private_key, certificate):
        raise CredentialError(
            "LOYALTY_APPLE_KEY_PATH",
            CredentialError.INVALID,
            f"the key {key[0]} does not match the certificate {cert[0]} (LOYALTY_APPLE_CERT_PATH).",
        )
    return AppleSigningCredentials(
        certificate=certificate,
        private_key=private_key,
        wwdr=load_certificate("LOYALTY_APPLE_WWDR_CERT_PATH", wwdr[0]),
        cert_path=cert[0],
        key_path=key[0],
    )
