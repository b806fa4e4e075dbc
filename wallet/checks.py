"""Start-up validation of the wallet settings, as Django system checks.

They run with ``manage.py check`` (and ``check --deploy``), before ``runserver`` and
``migrate``; an Error stops those. Every message names the variable and the problem.
With no LOYALTY_GOOGLE_* / LOYALTY_APPLE_* variable set there is nothing to report and
the wallets stay off.

wallet.E001  LOYALTY_GOOGLE_SERVICE_ACCOUNT_JSON: file missing
wallet.E002  LOYALTY_GOOGLE_SERVICE_ACCOUNT_JSON: file unreadable
wallet.E003  LOYALTY_GOOGLE_SERVICE_ACCOUNT_JSON: not a service-account key
wallet.E004  LOYALTY_GOOGLE_ISSUER_ID missing while the key is set
wallet.E005  LOYALTY_GOOGLE_SERVICE_ACCOUNT_JSON missing while the issuer id is set
wallet.E006  LOYALTY_GOOGLE_ISSUER_ID not numeric
wallet.E007  LOYALTY_GOOGLE_API_BASE_URL / LOYALTY_APPLE_APNS_URL not an http(s)/https URL
wallet.E010  Apple: some LOYALTY_APPLE_* set, others missing
wallet.E011  Apple file missing          wallet.E012  Apple file unreadable
wallet.E013  not a certificate / not a private key (or wrong LOYALTY_APPLE_KEY_PASSWORD)
wallet.E014  pass certificate and key do not match
wallet.E015  certificate expired or not yet valid (pass certificate or WWDR)
wallet.E016  the WWDR certificate did not issue the pass certificate
wallet.E017  the pass certificate is for another pass type id or team
wallet.W001  certificate expires within 30 days
wallet.W002  (deploy) LOYALTY_PUBLIC_BASE_URL is not https while a wallet is on
wallet.I001  (deploy) which wallets are on
"""

import datetime
from urllib.parse import urlsplit

from cryptography.x509.oid import NameOID
from django.conf import settings
from django.core.checks import Error, Info, Tags, Warning, register

from wallet.credentials import (
    CredentialError,
    certificate_problem,
    key_matches_certificate,
    load_certificate,
    load_private_key,
    load_service_account_info,
)
from wallet.switches import is_apple_wallet_enabled, is_google_wallet_enabled

WALLET_TAG = "wallet"
EXPIRY_WARNING_DAYS = 30

APPLE_REQUIRED = (
    "LOYALTY_APPLE_PASS_TYPE_ID",
    "LOYALTY_APPLE_TEAM_ID",
    "LOYALTY_APPLE_CERT_PATH",
    "LOYALTY_APPLE_KEY_PATH",
    "LOYALTY_APPLE_WWDR_CERT_PATH",
)
GOOGLE_FILE_IDS = {CredentialError.MISSING: "wallet.E001", CredentialError.UNREADABLE: "wallet.E002"}
APPLE_FILE_IDS = {CredentialError.MISSING: "wallet.E011", CredentialError.UNREADABLE: "wallet.E012"}


def _setting(name: str):
    return getattr(settings, name, None)


def _error(exc: CredentialError, ids: dict[str, str], invalid_id: str) -> Error:
    return Error(str(exc), hint=_hint(exc.variable), id=ids.get(exc.kind, invalid_id))


def _hint(variable: str) -> str:
    return f"Fix or unset {variable} (the README, Configuration, lists the wallet variables)."


@register(WALLET_TAG)
def check_google_wallet(app_configs=None, **kwargs):
    key_path = _setting("LOYALTY_GOOGLE_SERVICE_ACCOUNT_JSON")
    issuer_id = _setting("LOYALTY_GOOGLE_ISSUER_ID")
    messages = []
    if key_path:
        try:
            load_service_account_info(key_path)
        except CredentialError as exc:
            messages.append(_error(exc, GOOGLE_FILE_IDS, "wallet.E003"))
        if not issuer_id:
            messages.append(
                Error(
                    "LOYALTY_GOOGLE_ISSUER_ID is missing: LOYALTY_GOOGLE_SERVICE_ACCOUNT_JSON is set, so Google Wallet "
                    "needs the issuer id too.",
                    hint="Set LOYALTY_GOOGLE_ISSUER_ID to the issuer id of the Google Pay & Wallet console.",
                    id="wallet.E004",
                )
            )
    elif issuer_id:
        messages.append(
            Error(
                "LOYALTY_GOOGLE_SERVICE_ACCOUNT_JSON is missing: LOYALTY_GOOGLE_ISSUER_ID is set, so Google Wallet "
                "needs the service-account key file too.",
                hint="Set LOYALTY_GOOGLE_SERVICE_ACCOUNT_JSON to the key file's path, or unset LOYALTY_GOOGLE_ISSUER_ID.",
                id="wallet.E005",
            )
        )
    if issuer_id and not str(issuer_id).isdigit():
        messages.append(
            Error(
                f"LOYALTY_GOOGLE_ISSUER_ID: {issuer_id!r} is not an issuer id (a number).",
                hint=_hint("LOYALTY_GOOGLE_ISSUER_ID"),
                id="wallet.E006",
            )
        )
    if key_path or issuer_id:
        messages.extend(_url_problems("LOYALTY_GOOGLE_API_BASE_URL", {"http", "https"}))
    return messages


@register(WALLET_TAG)
def check_apple_wallet(app_configs=None, **kwargs):
    values = {name: _setting(name) for name in APPLE_REQUIRED}
    if not any(values.values()) and not _setting("LOYALTY_APPLE_KEY_PASSWORD"):
        return []
    messages = []
    missing = [name for name, value in values.items() if not value]
    if missing:
        messages.append(
            Error(
                f"Apple Wallet is partly configured: {', '.join(missing)} "
                f"{'is' if len(missing) == 1 else 'are'} missing.",
                hint=f"Set all of {', '.join(APPLE_REQUIRED)}, or none of them.",
                id="wallet.E010",
            )
        )
    certificate = key = wwdr = None
    if values["LOYALTY_APPLE_CERT_PATH"]:
        certificate = _load(messages, load_certificate, "LOYALTY_APPLE_CERT_PATH", values["LOYALTY_APPLE_CERT_PATH"])
    if values["LOYALTY_APPLE_KEY_PATH"]:
        key = _load(
            messages,
            load_private_key,
            "LOYALTY_APPLE_KEY_PATH",
            values["LOYALTY_APPLE_KEY_PATH"],
            _setting("LOYALTY_APPLE_KEY_PASSWORD"),
        )
    if values["LOYALTY_APPLE_WWDR_CERT_PATH"]:
        wwdr = _load(messages, load_certificate, "LOYALTY_APPLE_WWDR_CERT_PATH", values["LOYALTY_APPLE_WWDR_CERT_PATH"])
    if certificate is not None and key is not None and not key_matches_certificate(key, certificate):
        messages.append(
            Error(
                f"LOYALTY_APPLE_KEY_PATH: the key {values['LOYALTY_APPLE_KEY_PATH']} does not match the certificate "
                f"{values['LOYALTY_APPLE_CERT_PATH']} (LOYALTY_APPLE_CERT_PATH).",
                hint="Export the certificate and its private key from the same Pass Type ID certificate.",
                id="wallet.E014",
            )
        )
    for variable, cert in (("LOYALTY_APPLE_CERT_PATH", certificate), ("LOYALTY_APPLE_WWDR_CERT_PATH", wwdr)):
        if cert is not None:
            messages.extend(_validity(variable, values[variable], cert))
    if certificate is not None and wwdr is not None and certificate.issuer != wwdr.subject:
        messages.append(
            Error(
                f"LOYALTY_APPLE_WWDR_CERT_PATH: {values['LOYALTY_APPLE_WWDR_CERT_PATH']} ({wwdr.subject.rfc4514_string()}) "
                f"did not issue the pass certificate (issuer {certificate.issuer.rfc4514_string()}).",
                hint="Use the Apple WWDR intermediate named as the pass certificate's issuer (currently G4).",
                id="wallet.E016",
            )
        )
    if certificate is not None:
        messages.extend(_identity(certificate, values))
    messages.extend(_url_problems("LOYALTY_APPLE_APNS_URL", {"https"}))
    return messages


def _load(messages: list, loader, variable: str, *args):
    try:
        return loader(variable, *args)
    except CredentialError as exc:
        messages.append(_error(exc, APPLE_FILE_IDS, "wallet.E013"))
        return None


def _validity(variable: str, path: str, certificate) -> list:
    problem = certificate_problem(certificate)
    if problem:
        return [Error(f"{variable}: {path}: {problem}", hint=_hint(variable), id="wallet.E015")]
    remaining = certificate.not_valid_after_utc - datetime.datetime.now(datetime.UTC)
    if remaining < datetime.timedelta(days=EXPIRY_WARNING_DAYS):
        return [
            Warning(
                f"{variable}: {path}: the certificate expires on {certificate.not_valid_after_utc:%Y-%m-%d}.",
                hint="Renew it before then: expired certificates stop passes and pushes.",
                id="wallet.W001",
            )
        ]
    return []


def _identity(certificate, values: dict) -> list:
    """An Apple pass certificate names its pass type id (UID) and team (OU); they must be ours."""
    messages = []
    for oid, variable in (
        (NameOID.USER_ID, "LOYALTY_APPLE_PASS_TYPE_ID"),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, "LOYALTY_APPLE_TEAM_ID"),
    ):
        found = [attribute.value for attribute in certificate.subject.get_attributes_for_oid(oid)]
        if found and values[variable] and values[variable] not in found:
            messages.append(
                Error(
                    f"{variable}: {values[variable]!r} is not the one of the pass certificate "
                    f"{values['LOYALTY_APPLE_CERT_PATH']} ({', '.join(map(str, found))}).",
                    hint=f"Set {variable} to the certificate's value, or use that pass type's certificate.",
                    id="wallet.E017",
                )
            )
    return messages


def _url_problems(variable: str, schemes: set[str]) -> list:
    value = _setting(variable) or ""
    parts = urlsplit(value)
    if parts.scheme in schemes and parts.netloc:
        return []
    return [
        Error(
            f"{variable}: {value!r} is not an {' or '.join(sorted(schemes))} URL.",
            hint=_hint(variable),
            id="wallet.E007",
        )
    ]


@register(WALLET_TAG, Tags.security, deploy=True)
def check_wallet_deployment(app_configs=None, **kwargs):
    google = is_google_wallet_enabled()
    apple = is_apple_wallet_enabled()
    messages = [
        Info(
            f"Wallets: Google Wallet {'on' if google else 'off'}, Apple Wallet {'on' if apple else 'off'}.",
            hint=None
            if google and apple
            else "A wallet is on when all of its LOYALTY_GOOGLE_* / LOYALTY_APPLE_* variables are set.",
            id="wallet.I001",
        )
    ]
    base_url = _setting("LOYALTY_PUBLIC_BASE_URL") or ""
    if (google or apple) and urlsplit(base_url).scheme != "https":
        messages.append(
            Warning(
                f"LOYALTY_PUBLIC_BASE_URL: {base_url!r} is not https; Apple Wallet only talks to an https "
                "webServiceURL and Google fetches the program logo from it.",
                hint="Set LOYALTY_PUBLIC_BASE_URL to the public https address of the site.",
                id="wallet.W002",
            )
        )
    return messages


def ensure_wallet_settings_valid() -> None:
    """Stop start-up when a wallet is misconfigured (gunicorn does not run system checks itself)."""
    from django.core.checks import run_checks
    from django.core.exceptions import ImproperlyConfigured

    errors = [message for message in run_checks(tags=[WALLET_TAG]) if message.is_serious()]
    if errors:
        raise ImproperlyConfigured("Wallet settings are wrong:\n" + "\n".join(f"  {error}" for error in errors))
