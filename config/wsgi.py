import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

# Wrong wallet settings stop the server here, with the variable named, not at the first pass.
from wallet.checks import ensure_wallet_settings_valid  # noqa: E402

ensure_wallet_settings_valid()
