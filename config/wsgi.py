import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

# Wrong wallet settings stop the server here, with the variable named, not at the first pass.
from wallet.checks import ensure_wallet_settings_valid  # noqa: E402

ensure_wallet_settings_valid()

# Import the URLconf (and with it the views, DRF, the schema generator, httpx, Pillow) now rather
# than in the first request of each worker, which otherwise takes about a second; with
# `gunicorn --preload` this happens once, before the workers are forked.
from django.urls import get_resolver  # noqa: E402

get_resolver().url_patterns  # noqa: B018
