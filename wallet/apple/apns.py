"""A small APNs client for pass updates: HTTP/2 over TLS with the pass certificate.

``POST <LOYALTY_APPLE_APNS_URL>/3/device/<pushToken>`` with ``apns-topic`` = the pass type
id and ``{}`` as the body. The base URL is configurable (aioapns hard-codes Apple's host),
so the tests point it at a loopback HTTP/2 server. The server is verified against the
system's CA store (OpenSSL honours ``SSL_CERT_FILE``) or the ``ca_file`` given.
"""

import secrets
import ssl
import tempfile
from dataclasses import dataclass
from urllib.parse import quote

import httpx
from cryptography.hazmat.primitives import serialization
from django.conf import settings

from wallet.credentials import AppleSigningCredentials, apple_signing_credentials


@dataclass(frozen=True)
class PushResult:
    status: int
    reason: str = ""

    @property
    def delivered(self) -> bool:
        return self.status == 200

    @property
    def unregistered(self) -> bool:
        """410: the device no longer takes pushes for this topic; forget its registrations."""
        return self.status == 410

    @property
    def retryable(self) -> bool:
        return self.status == 429 or self.status >= 500


def tls_context(credentials: AppleSigningCredentials, ca_file: str | None = None) -> ssl.SSLContext:
    """TLS with the pass certificate as client certificate (PEM or DER files, encrypted key or not)."""
    context = ssl.create_default_context(cafile=ca_file)
    # ssl loads client certificates from PEM files only: hand it a PEM copy whose key is
    # encrypted with a one-time password, readable by this process only, deleted at once.
    password = secrets.token_urlsafe(32)
    key_pem = credentials.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(password.encode()),
    )
    with tempfile.NamedTemporaryFile(prefix="apns-", suffix=".pem") as handle:
        handle.write(credentials.certificate.public_bytes(serialization.Encoding.PEM) + key_pem)
        handle.flush()
        context.load_cert_chain(handle.name, password=password)
    context.set_alpn_protocols(["h2"])
    return context


class APNsClient:
    def __init__(
        self,
        *,
        base_url: str | None = None,
        topic: str | None = None,
        ca_file: str | None = None,
        timeout: float = 10.0,
    ):
        credentials = apple_signing_credentials()
        self.base_url = (base_url or settings.LOYALTY_APPLE_APNS_URL).rstrip("/")
        self.topic = topic or settings.LOYALTY_APPLE_PASS_TYPE_ID
        context = tls_context(credentials, ca_file)
        self._client = httpx.Client(http1=False, http2=True, verify=context, timeout=timeout)

    def push(self, push_token: str) -> PushResult:
        """Tell the device to fetch the pass again. Raises httpx.HTTPError when APNs is unreachable."""
        response = self._client.post(
            f"{self.base_url}/3/device/{quote(push_token, safe='')}",
            content=b"{}",
            headers={"apns-topic": self.topic, "content-type": "application/json"},
        )
        reason = ""
        if response.status_code != 200:
            try:
                reason = str(response.json().get("reason", ""))
            except ValueError:
                reason = response.text[:200]
        return PushResult(status=response.status_code, reason=reason)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "APNsClient":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
