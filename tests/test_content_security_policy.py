"""The Content-Security-Policy header (config/security_headers.py) and pages that need no inline script."""

import re
from pathlib import Path

import pytest
from django.conf import settings

from tests.factories import make_card

pytestmark = pytest.mark.django_db

ROOT = Path(settings.BASE_DIR)


def directives(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.strip() for part in header.split(";") if part.strip()}


def nonce_of(response) -> str:
    return re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"])[1]


@pytest.mark.parametrize("path", ["/pos/login/", "/admin/login/", "/api/v1/docs/", "/no-such-page/", "/api/v1/schema/"])
def test_every_response_has_the_policy(client, path):
    response = client.get(path)
    policy = directives(response)
    assert policy["default-src"] == "default-src 'self'"
    assert policy["script-src"] == "script-src 'self'"
    assert policy["object-src"] == "object-src 'none'"
    assert policy["base-uri"] == "base-uri 'self'"
    assert policy["frame-ancestors"] == "frame-ancestors 'none'"
    assert policy["form-action"] == "form-action 'self'"
    assert policy["img-src"] == "img-src 'self' data:"
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert "'unsafe-eval'" not in response["Content-Security-Policy"]


def test_the_nonce_is_new_on_every_request(client):
    assert nonce_of(client.get("/pos/login/")) != nonce_of(client.get("/pos/login/"))


def test_the_card_page_styles_come_from_nonced_blocks(client, program, store):
    program.stamps_target = 40  # a progress bar, not dots
    program.background_color = "#123456"
    program.save()
    card = make_card(program=program, store=store)
    response = client.get(f"/card/{card.qr_code_data}/")
    html = response.content.decode()
    nonce = nonce_of(response)
    assert "style=" not in html
    blocks = re.findall(r"<style([^>]*)>(.*?)</style>", html, re.S)
    assert blocks and all(f'nonce="{nonce}"' in attributes for attributes, _ in blocks)
    assert any("--brand-bg: #123456" in body for _, body in blocks)
    assert any(".progress-fill { width: 0%; }" in body for _, body in blocks)


def test_the_join_page_styles_come_from_nonced_blocks(client, program, store):
    response = client.get(f"/join/{program.merchant.slug}/")
    html = response.content.decode()
    assert "style=" not in html
    assert f'<style nonce="{nonce_of(response)}">' in html


def test_templates_have_no_inline_script_or_event_handler():
    """Every script of our templates is a file (script-src 'self'); no onclick=, no javascript: URL."""
    templates = [
        path
        for folder in ("templates", "customers", "loyalty", "merchants", "wallet")
        for path in (ROOT / folder).rglob("*.html")
    ]
    assert templates
    for path in templates:
        html = path.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
        assert not re.search(r"\son[a-z]+\s*=", html, re.I), path
        assert "javascript:" not in html.lower(), path
        if "email" not in path.parts:  # emails are read in mail clients, not under our CSP; they need inline styles
            assert not re.search(r"\sstyle\s*=", html, re.I), path
