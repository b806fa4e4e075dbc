"""The Google Wallet Objects REST API through a service-account session (google-auth).

Requests go to ``LOYALTY_GOOGLE_API_BASE_URL`` (overridable for tests); 429, 5xx and
network errors are retried with exponential backoff, then raised so the outbox tries later.
"""

import functools
import logging
import os
import time
from urllib.parse import quote

import google.auth.exceptions
import requests
from django.conf import settings
from google.auth.transport.requests import AuthorizedSession
from google.oauth2 import service_account

from wallet.credentials import load_service_account_info

logger = logging.getLogger(__name__)

SCOPES = ["https://www.googleapis.com/auth/wallet_object.issuer"]
# Waits before the second and third attempt on 429/5xx (Retry-After wins when larger, up to the cap).
RETRY_DELAYS: tuple[float, ...] = (1.0, 4.0)
MAX_RETRY_AFTER_SECONDS = 10.0
TIMEOUT_SECONDS = 10.0


class GoogleWalletError(Exception):
    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


def service_account_credentials() -> service_account.Credentials:
    path = settings.LOYALTY_GOOGLE_SERVICE_ACCOUNT_JSON
    try:
        version = os.stat(path).st_mtime_ns
    except OSError:
        version = -1
    return _credentials(path, version)


@functools.lru_cache(maxsize=4)
def _credentials(path: str, version: int) -> service_account.Credentials:
    # Cached per file version: the access token it holds is reused until it expires.
    info = load_service_account_info(path)
    return service_account.Credentials.from_service_account_info(info, scopes=SCOPES)


class WalletObjectsClient:
    def __init__(self, *, retry_delays: tuple[float, ...] | None = None, timeout: float = TIMEOUT_SECONDS):
        self.base_url = settings.LOYALTY_GOOGLE_API_BASE_URL.rstrip("/")
        self.retry_delays = RETRY_DELAYS if retry_delays is None else retry_delays
        self.timeout = timeout
        self.session = AuthorizedSession(service_account_credentials(), refresh_timeout=timeout)

    def request(self, method: str, path: str, body: dict | None = None) -> requests.Response:
        """One call, retried on 429/5xx/network errors; any other answer is returned."""
        url = f"{self.base_url}/{path}"
        attempts = len(self.retry_delays) + 1
        for attempt in range(attempts):
            try:
                response = self.session.request(method, url, json=body, timeout=self.timeout)
            except (requests.RequestException, google.auth.exceptions.GoogleAuthError) as exc:
                error = GoogleWalletError(f"{method} {path}: {type(exc).__name__}: {exc}")
                retry_after = None
            else:
                if response.status_code != 429 and response.status_code < 500:
                    return response
                error = GoogleWalletError(
                    f"{method} {path}: HTTP {response.status_code} {response.text[:300]}", response.status_code
                )
                retry_after = _retry_after(response)
            if attempt + 1 == attempts:
                raise error
            delay = max(self.retry_delays[attempt], min(retry_after or 0, MAX_RETRY_AFTER_SECONDS))
            logger.info("Google Wallet: %s; retrying in %.1fs", error, delay)
            time.sleep(delay)
        raise AssertionError("unreachable")

    def insert(self, resource: str, body: dict) -> bool:
        """Insert; False when it already exists (409)."""
        response = self.request("POST", resource, body)
        if response.status_code == 409:
            return False
        _raise_for_status(response, "insert", resource, body["id"])
        return True

    def patch(self, resource: str, body: dict) -> bool:
        """Patch; False when it does not exist (404)."""
        response = self.request("PATCH", f"{resource}/{quote(body['id'], safe='')}", body)
        if response.status_code == 404:
            return False
        _raise_for_status(response, "patch", resource, body["id"])
        return True

    def insert_or_patch(self, resource: str, body: dict) -> None:
        """Insert; a 409 (a retried insert, or made elsewhere) means it exists: patch it."""
        if not self.insert(resource, body) and not self.patch(resource, body):
            raise GoogleWalletError(f"{resource} {body['id']}: insert said it exists, patch said it does not")

    def patch_or_insert(self, resource: str, body: dict) -> None:
        """Patch; a 404 (deleted on Google's side, never inserted) falls back to an insert."""
        if not self.patch(resource, body) and not self.insert(resource, body) and not self.patch(resource, body):
            raise GoogleWalletError(f"{resource} {body['id']}: neither patch nor insert succeeded")


def _retry_after(response: requests.Response) -> float | None:
    try:
        return float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None


def _raise_for_status(response: requests.Response, action: str, resource: str, resource_id: str) -> None:
    if response.status_code >= 400:
        raise GoogleWalletError(
            f"{action} {resource} {resource_id}: HTTP {response.status_code} {response.text[:300]}",
            response.status_code,
        )
