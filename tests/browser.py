"""Real-browser tests: Playwright for Python driving Debian's Chromium.

Use the ``page`` fixture from tests/conftest.py with pytest-django's ``live_server``;
``screenshot(page, request, name)`` saves under test-output/<test name>/.
"""

import os
import shutil
from pathlib import Path

import pytest

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
