"""Real-browser tests: Playwright for Python driving Debian's Chromium.

Use the ``page`` fixture from tests/conftest.py with pytest-django's ``live_server``;
``screenshot(page, request, name)`` saves under test-output/<test name>/.
"""

import contextlib
import os
import shutil
from pathlib import Path

import pytest
from django.db import connections

CHROMIUM = os.environ.get("LOYALTY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
OUTPUT_DIR = Path(__file__).resolve().parent.parent / "test-output"

needs_chromium = pytest.mark.skipif(
    not (os.path.exists(CHROMIUM) or shutil.which("chromium")),
    reason=f"Chromium is not installed at {CHROMIUM} (apt-get install chromium; .ci/run does it)",
)


def screenshot(page, request, name: str) -> Path:
    folder = OUTPUT_DIR / request.node.name.replace("/", "_")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@contextlib.contextmanager
def chromium(*extra_args: str):
    """A headless Chromium (Debian's, driven by Playwright) with CHROMIUM_ARGS and ``extra_args``."""
    if needs_chromium.args[0]:
        pytest.skip(needs_chromium.kwargs["reason"])
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls the test makes
    # around it are still plain synchronous calls.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *extra_args])
        try:
            yield instance
        finally:
            instance.close()
            # ORM calls made while Playwright's loop ran opened connections of their own.
            connections.close_all()
