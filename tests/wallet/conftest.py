import json

import pytest

from tests.wallet import fakes
from wallet.google import client as google_client

PUBLIC_BASE_URL = "https://loyalty.example.com"


@pytest.fixture(scope="session")
def wallet_credentials(tmp_path_factory):
    """Throwaway PKI for the session: fake WWDR CA, pass certificate, APNs server CA, Google key."""
    return fakes.make_credentials(tmp_path_factory.mktemp("wallet-credentials"))


@pytest.fixture
def apple_wallet(settings, wallet_credentials):
    """Apple Wallet switched on with the throwaway pass certificate."""
    settings.LOYALTY_PUBLIC_BASE_URL = PUBLIC_BASE_URL
    settings.LOYALTY_APPLE_PASS_TYPE_ID = fakes.PASS_TYPE_ID
    settings.LOYALTY_APPLE_TEAM_ID = fakes.TEAM_ID
    settings.LOYALTY_APPLE_CERT_PATH = wallet_credentials.path("pass-cert.pem")
    settings.LOYALTY_APPLE_KEY_PATH = wallet_credentials.path("pass-key.pem")
    settings.LOYALTY_APPLE_KEY_PASSWORD = None
    settings.LOYALTY_APPLE_WWDR_CERT_PATH = wallet_credentials.path("wwdr.pem")
    return wallet_credentials


@pytest.fixture
def apns(apple_wallet, settings, monkeypatch):
    """A loopback APNs (HTTP/2, TLS, client certificate required) the client trusts via SSL_CERT_FILE."""
    server = fakes.FakeAPNs(apple_wallet)
    monkeypatch.setenv("SSL_CERT_FILE", apple_wallet.path("apns-ca.pem"))
    settings.LOYALTY_APPLE_APNS_URL = server.url
    yield server
    server.close()


@pytest.fixture
def google_fake():
    server = fakes.FakeGoogleWallet()
    yield server
    server.close()


@pytest.fixture
def google_wallet(settings, wallet_credentials, google_fake, tmp_path, monkeypatch):
    """Google Wallet switched on; its API and the service account's token endpoint are the loopback fake."""
    key_file = tmp_path / "service-account.json"
    key_file.write_text(json.dumps(wallet_credentials.service_account_json(google_fake.token_uri)))
    settings.LOYALTY_PUBLIC_BASE_URL = PUBLIC_BASE_URL
    settings.LOYALTY_GOOGLE_SERVICE_ACCOUNT_JSON = str(key_file)
    settings.LOYALTY_GOOGLE_ISSUER_ID = fakes.ISSUER_ID
    settings.LOYALTY_GOOGLE_API_BASE_URL = google_fake.api_base_url
    monkeypatch.setattr(google_client, "RETRY_DELAYS", (0.01, 0.01))
    return google_fake
