"""Settings for the test suite: the development defaults (DEBUG on, its secret key and hosts)
unless the environment says otherwise. Production values are tested in tests/test_settings.py,
each in a fresh process with config.settings."""

import os

os.environ.setdefault("DEBUG", "true")

from config.settings import *  # noqa: E402, F403
