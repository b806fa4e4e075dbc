"""Settings read the environment once and refuse unsafe production values."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def load_settings(tmp_path, **env):
    environment = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "ALLOWED_HOSTS"}}
    environment.update(env, LOYALTY_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="config.settings")
    code = "import django; django.setup(); from django.conf import settings; print(settings.DATABASES['default']['ENGINE'], settings.LOYALTY_RATE_LIMITS['stamp'])"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEBUG": "false"}, "SECRET_KEY must be set"),
        (
            {"DEBUG": "false", "SECRET_KEY": "dev-insecure-secret-key-do-not-use-in-production"},
            "SECRET_KEY must be set",
        ),
        ({"DEBUG": "false", "SECRET_KEY": "x" * 50}, "ALLOWED_HOSTS must be set"),
        ({"DEBUG": "maybe"}, "DEBUG must be a boolean"),
        ({"DEBUG": "true", "LOYALTY_RATE_LIMITS": "stamp=lots"}, "LOYALTY_RATE_LIMITS"),
    ],
)
def test_unsafe_or_malformed_settings_stop_start_up(tmp_path, env, message):
    result = load_settings(tmp_path, **env)
    assert result.returncode != 0
    assert message in result.stderr


def test_production_values_start(tmp_path):
    result = load_settings(
        tmp_path,
        DEBUG="false",
        SECRET_KEY="s" * 50,
        ALLOWED_HOSTS="shop.example",
        LOYALTY_RATE_LIMITS="stamp=600/m",
        DATABASE_URL="postgres://u:p@db.example:5432/loyalty",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.postgresql", "600/m"]


def test_debug_is_off_unless_set(tmp_path):
    """Secure by default: without DEBUG in the environment the production checks apply."""
    result = load_settings(tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_default_is_sqlite(tmp_path):
    result = load_settings(tmp_path, DEBUG="true", DATABASE_URL="")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.sqlite3", "60/m"]


def test_wsgi_start_up_refuses_broken_wallet_settings(tmp_path):
    environment = {
        **os.environ,
        "LOYALTY_VAR_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "LOYALTY_GOOGLE_SERVICE_ACCOUNT_JSON": str(tmp_path / "missing.json"),
        "LOYALTY_GOOGLE_ISSUER_ID": "3388000000012345678",
    }
    result = subprocess.run(
        [sys.executable, "-c", "import config.wsgi"], cwd=ROOT, env=environment, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "LOYALTY_GOOGLE_SERVICE_ACCOUNT_JSON" in result.stderr
    assert "missing.json" in result.stderr
