"""Start-up validation: each bad wallet setting gives a message naming the variable and the problem."""

import datetime
import json

import pytest
from django.core.checks import Error
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from tests.wallet import fakes
from wallet.checks import check_apple_wallet, check_google_wallet, check_wallet_deployment

UNSET_APPLE = {
    "LOYALTY_APPLE_PASS_TYPE_ID": None,
    "LOYALTY_APPLE_TEAM_ID": None,
    "LOYALTY_APPLE_CERT_PATH": None,
    "LOYALTY_APPLE_KEY_PATH": None,
    "LOYALTY_APPLE_KEY_PASSWORD": None,
    "LOYALTY_APPLE_WWDR_CERT_PATH": None,
}


def only(messages, check_id):
    found = [m for m in messages if m.id == check_id]
    assert found, f"expected {check_id}, got {[(m.id, m.msg) for m in messages]}"
    return found[0]


def errors(messages):
    return [m for m in messages if isinstance(m, Error)]


@pytest.fixture
def google_key(settings, wallet_credentials, tmp_path):
    path = tmp_path / "key.json"
    path.write_text(json.dumps(wallet_credentials.service_account_json("https://oauth2.googleapis.com/token")))
    settings.LOYALTY_GOOGLE_SERVICE_ACCOUNT_JSON = str(path)
    settings.LOYALTY_GOOGLE_ISSUER_ID = fakes.ISSUER_ID
    return path


def test_nothing_set_nothing_reported(settings):
    settings.LOYALTY_GOOGLE_SERVICE_ACCOUNT_JSON = None
    settings.LOYALTY_GOOGLE_ISSUER_ID = None
    for name, value in UNSET_APPLE.items():
        setattr(settings, name, value)
    assert check_google_wallet() == []
    assert check_apple_wallet() == []
    call_command("check")  # does not raise


def test_good_settings_pass(google_key, apple_wallet):
    assert check_google_wallet() == []
    assert check_apple_wallet() == []
    call_command("check")


# --- Google ---------------------------------------------------------------------------------


def test_google_key_missing(settings, tmp_path):
    settings.LOYALTY_GOOGLE_SERVICE_ACCOUNT_JSON = str(tmp_path / "nowhere.json")
    settings.LOYALTY_GOOGLE_ISSUER_ID = fakes.ISSUER_ID
    message = only(check_google_wallet(), "wallet.E001")
    assert "LOYALTY_GOOGLE_SERVICE_ACCOUNT_JSON" in message.msg
    assert "does not exist" in message.msg


def test_google_key_unreadable(google_key, monkeypatch):
    import wallet.credentials

    def no_permission(path, mode="r", *args, **kwargs):
        raise PermissionError(13, "Permission denied", path)

    # chmod 0 does not stop root (the CI user): refuse the read the way the kernel would.
    monkeypatch.setattr(wallet.credentials, "open", no_permission, raising=False)
    message = only(check_google_wallet(), "wallet.E002")
    assert "LOYALTY_GOOGLE_SERVICE_ACCOUNT_JSON" in message.msg
    assert "cannot be read (Permission denied)" in message.msg


def test_google_key_is_a_directory_is_unreadable(settings, tmp_path):
    settings.LOYALTY_GOOGLE_SERVICE_ACCOUNT_JSON = str(tmp_path)
    settings.LOYALTY_GOOGLE_ISSUER_ID = fakes.ISSUER_ID
    message = only(check_google_wallet(), "wallet.E002")
    assert "cannot be read" in message.msg


@pytest.mark.parametrize(
    "content, problem",
    [
        ("not json at all", "not JSON"),
        (json.dumps({"type": "authorized_user", "client_id": "x"}), '"type" must be "service_account"'),
        (json.dumps({"type": "service_account", "client_email": "a@b"}), "missing private_key"),
        (
            json.dumps(
                {"type": "service_account", "private_key": "nope", "client_email": "a@b", "token_uri": "https://x"}
            ),
            "private_key is not a PEM key",
        ),
    ],
)
def test_google_key_not_a_service_account_key(google_key, content, problem):
    google_key.write_text(content)
    message = only(check_google_wallet(), "wallet.E003")
    assert "LOYALTY_GOOGLE_SERVICE_ACCOUNT_JSON" in message.msg
    assert "not a service-account key" in message.msg
    assert problem in message.msg


def test_google_issuer_missing_with_key(google_key, settings):
    settings.LOYALTY_GOOGLE_ISSUER_ID = None
    message = only(check_google_wallet(), "wallet.E004")
    assert "LOYALTY_GOOGLE_ISSUER_ID is missing" in message.msg


def test_google_key_missing_with_issuer(settings):
    settings.LOYALTY_GOOGLE_SERVICE_ACCOUNT_JSON = None
    settings.LOYALTY_GOOGLE_ISSUER_ID = fakes.ISSUER_ID
    assert "LOYALTY_GOOGLE_SERVICE_ACCOUNT_JSON is missing" in only(check_google_wallet(), "wallet.E005").msg


def test_google_issuer_not_numeric(google_key, settings):
    settings.LOYALTY_GOOGLE_ISSUER_ID = "my-issuer"
    assert "LOYALTY_GOOGLE_ISSUER_ID" in only(check_google_wallet(), "wallet.E006").msg


def test_google_api_url_not_a_url(google_key, settings):
    settings.LOYALTY_GOOGLE_API_BASE_URL = "walletobjects"
    assert "LOYALTY_GOOGLE_API_BASE_URL" in only(check_google_wallet(), "wallet.E007").msg


# --- Apple ----------------------------------------------------------------------------------


def test_apple_partly_configured(settings, apple_wallet):
    settings.LOYALTY_APPLE_TEAM_ID = None
    settings.LOYALTY_APPLE_WWDR_CERT_PATH = None
    message = only(check_apple_wallet(), "wallet.E010")
    assert "LOYALTY_APPLE_TEAM_ID" in message.msg and "LOYALTY_APPLE_WWDR_CERT_PATH" in message.msg


@pytest.mark.parametrize(
    "variable", ["LOYALTY_APPLE_CERT_PATH", "LOYALTY_APPLE_KEY_PATH", "LOYALTY_APPLE_WWDR_CERT_PATH"]
)
def test_apple_file_missing(settings, apple_wallet, tmp_path, variable):
    setattr(settings, variable, str(tmp_path / "absent.pem"))
    message = only(check_apple_wallet(), "wallet.E011")
    assert message.msg.startswith(f"{variable}:")
    assert "does not exist" in message.msg


@pytest.mark.parametrize("variable", ["LOYALTY_APPLE_CERT_PATH", "LOYALTY_APPLE_WWDR_CERT_PATH"])
def test_apple_not_a_certificate(settings, apple_wallet, tmp_path, variable):
    bogus = tmp_path / "bogus.pem"
    bogus.write_bytes(b"-----BEGIN CERTIFICATE-----\nnonsense\n-----END CERTIFICATE-----\n")
    setattr(settings, variable, str(bogus))
    message = only(check_apple_wallet(), "wallet.E013")
    assert message.msg.startswith(f"{variable}:") and "not an X.509 certificate" in message.msg


def test_apple_key_not_a_key(settings, apple_wallet):
    settings.LOYALTY_APPLE_KEY_PATH = apple_wallet.path("pass-cert.pem")
    message = only(check_apple_wallet(), "wallet.E013")
    assert message.msg.startswith("LOYALTY_APPLE_KEY_PATH:") and "not a private key" in message.msg


def test_apple_encrypted_key_needs_the_password(settings, apple_wallet):
    settings.LOYALTY_APPLE_KEY_PATH = apple_wallet.write(
        "pass-key-encrypted.pem", fakes.key_pem(apple_wallet.pass_key, b"s3cret")
    )
    assert "set LOYALTY_APPLE_KEY_PASSWORD" in only(check_apple_wallet(), "wallet.E013").msg
    settings.LOYALTY_APPLE_KEY_PASSWORD = "wrong"
    assert "cannot be decrypted with LOYALTY_APPLE_KEY_PASSWORD" in only(check_apple_wallet(), "wallet.E013").msg
    settings.LOYALTY_APPLE_KEY_PASSWORD = "s3cret"
    assert errors(check_apple_wallet()) == []


def test_apple_cert_and_key_do_not_match(settings, apple_wallet):
    settings.LOYALTY_APPLE_KEY_PATH = apple_wallet.write("other-key.pem", fakes.key_pem(fakes.new_key()))
    message = only(check_apple_wallet(), "wallet.E014")
    assert "LOYALTY_APPLE_KEY_PATH" in message.msg and "does not match the certificate" in message.msg


def test_apple_pass_certificate_expired(settings, apple_wallet):
    long_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=400)
    expired = fakes.make_certificate(
        fakes.name("expired", uid=fakes.PASS_TYPE_ID, ou=fakes.TEAM_ID),
        apple_wallet.pass_key,
        issuer=apple_wallet.wwdr_cert.subject,
        issuer_key=apple_wallet.wwdr_key,
        not_before=long_ago,
        days=30,
    )
    settings.LOYALTY_APPLE_CERT_PATH = apple_wallet.write("expired-pass.pem", fakes.pem(expired))
    message = only(check_apple_wallet(), "wallet.E015")
    assert message.msg.startswith("LOYALTY_APPLE_CERT_PATH:") and "expired" in message.msg


def test_apple_wwdr_expired(settings, apple_wallet):
    long_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=400)
    expired = fakes.make_certificate(
        apple_wallet.wwdr_cert.subject, apple_wallet.wwdr_key, ca=True, not_before=long_ago, days=30
    )
    settings.LOYALTY_APPLE_WWDR_CERT_PATH = apple_wallet.write("expired-wwdr.pem", fakes.pem(expired))
    message = only(check_apple_wallet(), "wallet.E015")
    assert message.msg.startswith("LOYALTY_APPLE_WWDR_CERT_PATH:") and "expired" in message.msg


def test_apple_certificate_expiring_soon_warns(settings, apple_wallet):
    soon = fakes.make_certificate(
        fakes.name("soon", uid=fakes.PASS_TYPE_ID, ou=fakes.TEAM_ID),
        apple_wallet.pass_key,
        issuer=apple_wallet.wwdr_cert.subject,
        issuer_key=apple_wallet.wwdr_key,
        days=10,
    )
    settings.LOYALTY_APPLE_CERT_PATH = apple_wallet.write("soon.pem", fakes.pem(soon))
    assert "expires on" in only(check_apple_wallet(), "wallet.W001").msg
    assert errors(check_apple_wallet()) == []


def test_apple_wrong_wwdr(settings, apple_wallet):
    other_ca = fakes.make_certificate(fakes.name("Some other CA"), fakes.new_key(), ca=True)
    settings.LOYALTY_APPLE_WWDR_CERT_PATH = apple_wallet.write("other-ca.pem", fakes.pem(other_ca))
    assert "did not issue the pass certificate" in only(check_apple_wallet(), "wallet.E016").msg


def test_apple_pass_type_id_of_another_certificate(settings, apple_wallet):
    settings.LOYALTY_APPLE_PASS_TYPE_ID = "pass.com.example.other"
    message = only(check_apple_wallet(), "wallet.E017")
    assert "LOYALTY_APPLE_PASS_TYPE_ID" in message.msg


def test_apple_apns_url_must_be_https(settings, apple_wallet):
    settings.LOYALTY_APPLE_APNS_URL = "http://api.push.apple.com"
    assert "LOYALTY_APPLE_APNS_URL" in only(check_apple_wallet(), "wallet.E007").msg


# --- as the commands see them -----------------------------------------------------------------


def test_check_command_stops_on_a_bad_setting(settings, tmp_path):
    settings.LOYALTY_GOOGLE_SERVICE_ACCOUNT_JSON = str(tmp_path / "missing.json")
    settings.LOYALTY_GOOGLE_ISSUER_ID = fakes.ISSUER_ID
    with pytest.raises(SystemCheckError, match="LOYALTY_GOOGLE_SERVICE_ACCOUNT_JSON"):
        call_command("check")
    with pytest.raises(SystemCheckError, match="wallet.E001"):
        call_command("check", deploy=True)


def test_deploy_check_reports_wallet_state(settings, apple_wallet):
    settings.LOYALTY_PUBLIC_BASE_URL = "http://loyalty.example.com"
    settings.LOYALTY_GOOGLE_SERVICE_ACCOUNT_JSON = None
    settings.LOYALTY_GOOGLE_ISSUER_ID = None
    messages = check_wallet_deployment()
    assert "Google Wallet off, Apple Wallet on" in only(messages, "wallet.I001").msg
    assert "LOYALTY_PUBLIC_BASE_URL" in only(messages, "wallet.W002").msg
