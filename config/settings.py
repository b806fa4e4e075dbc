"""Settings for the loyalty portal.

The environment is read here and nowhere else. Defaults give the embedded run
(SQLite, database cache, filesystem Celery broker); production values come from
the variables listed in the README and ../shared/SPEC.md.
"""

import os
import re
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("LOYALTY_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {value!r}")


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_optional(name: str) -> str | None:
    return os.environ.get(name) or None


DEV_SECRET_KEY = "dev-insecure-secret-key-do-not-use-in-production"
DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY", DEV_SECRET_KEY if DEBUG else "")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver" if DEBUG else "")

if not DEBUG:
    # Production refuses the development values instead of running insecurely.
    if not SECRET_KEY or SECRET_KEY == DEV_SECRET_KEY or len(SECRET_KEY) < 32:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set to a random value of at least 32 characters when DEBUG is off."
        )
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DEBUG is off.")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "merchants",
    "customers",
    "loyalty",
    "wallet",
    "notifications",
    "insights",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.security_headers.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'db.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server, the worker and the scheduler share the file.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
else:
    # Server-side binding, and psycopg prepares a statement the fifth time a connection runs
    # it: PostgreSQL then skips parsing and planning the POS queries on every call.
    # Behind PgBouncer in transaction mode, PgBouncer >= 1.21 with max_prepared_statements is needed.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"server_side_binding": True, "prepare_threshold": 5})
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (rate limits, idempotency locks) -----------------------------------
REDIS_URL = env_optional("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "core.redis_cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
else:
    # A cache every process of the embedded run shares (runserver, worker, scheduler).
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "loyalty_cache",
        }
    }

# --- Auth ---------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/pos/login/"
LOGIN_REDIRECT_URL = "/pos/"
LOGOUT_REDIRECT_URL = "/pos/login/"

# --- I18N ---------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("fr", "Français")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = os.environ.get("TIME_ZONE", "Europe/Paris")
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
MEDIA_URL = "/media/"
MEDIA_ROOT = VAR_DIR / "media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Email ----------------------------------------------------------------------
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "loyalty@localhost")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", "10"))  # seconds; the worker sends, never a request

# --- Security (production) ----------------------------------------------------------
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "3600"))
    SECURE_CONTENT_TYPE_NOSNIFF = True
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

# --- REST framework -------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "loyalty.api.authentication.StaffTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "loyalty.api.errors.exception_handler",
    # OPTIONS without serializer introspection; JSON bodies with bounded size and nesting; JSON
    # answers only (DRF's browsable API needs inline styles the Content-Security-Policy refuses;
    # the interactive docs are /api/v1/docs/).
    "DEFAULT_METADATA_CLASS": "loyalty.api.metadata.EndpointMetadata",
    "DEFAULT_PARSER_CLASSES": ["loyalty.api.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Loyalty portal staff API",
    "DESCRIPTION": "Point-of-sale API for cashiers: look up cards, stamp, earn, redeem, void, adjust.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Rate limits ----------------------------------------------------------------------
RATELIMIT_USE_CACHE = "default"
RATELIMIT_FAIL_OPEN = True  # the POS keeps working when the cache is down (logged)
RATELIMIT_EXCEPTION_CLASS = "django_ratelimit.exceptions.Ratelimited"
SILENCED_SYSTEM_CHECKS = ["django_ratelimit.E003", "django_ratelimit.W001"]
DEFAULT_RATE_LIMITS = "stamp=60/m,earn=60/m,redeem=60/m,void=20/m,adjust=20/m,pin=10/m"


def parse_rate_limits(raw: str) -> dict[str, str]:
    limits = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        name, sep, rate = item.partition("=")
        count, slash, period = rate.partition("/")
        if not sep or not slash or not count.isdigit() or period not in {"s", "m", "h", "d"}:
            raise ImproperlyConfigured(f"LOYALTY_RATE_LIMITS: {item!r} is not of the form action=<count>/<s|m|h|d>")
        limits[name.strip()] = rate
    return limits


LOYALTY_RATE_LIMITS = parse_rate_limits(DEFAULT_RATE_LIMITS) | parse_rate_limits(
    os.environ.get("LOYALTY_RATE_LIMITS", "")
)
LOYALTY_ENROLL_RATE_LIMIT = os.environ.get("LOYALTY_ENROLL_RATE_LIMIT", "10/h")
# Apple Wallet's log endpoint (POST /wallet/apple/v1/log), per client address.
LOYALTY_APPLE_LOG_RATE_LIMIT = os.environ.get("LOYALTY_APPLE_LOG_RATE_LIMIT", "60/h")
# Behind a reverse proxy every client has the proxy's address: name the header it sets
# (for example HTTP_X_REAL_IP) so per-address limits see the customer.
RATELIMIT_IP_META_KEY = env_optional("RATELIMIT_IP_META_KEY")


def env_login_limit(name: str, default: str) -> str:
    """A sign-in limit such as ``10/15m``: failures per window (``s``, ``m``, ``h`` or ``d``, optionally multiplied)."""
    value = os.environ.get(name) or default
    if not re.fullmatch(r"[1-9]\d*/([1-9]\d*)?[smhd]", value):
        raise ImproperlyConfigured(f"{name} must look like 10/15m (failures per window), got {value!r}")
    return value


# Failed sign-ins (admin, POS page, API token) per username and per client address (merchants/login_limits.py).
LOYALTY_LOGIN_LIMIT_PER_USERNAME = env_login_limit("LOYALTY_LOGIN_LIMIT_PER_USERNAME", "10/15m")
LOYALTY_LOGIN_LIMIT_PER_ADDRESS = env_login_limit("LOYALTY_LOGIN_LIMIT_PER_ADDRESS", "30/15m")
# How long an API token works after sign-in (merchants/tokens.py).
LOYALTY_API_TOKEN_TTL_HOURS = float(os.environ.get("LOYALTY_API_TOKEN_TTL_HOURS", "10"))
if not 0 < LOYALTY_API_TOKEN_TTL_HOURS <= 24 * 366:
    raise ImproperlyConfigured("LOYALTY_API_TOKEN_TTL_HOURS must be a number of hours above 0 and at most a year.")

# --- Loyalty product ----------------------------------------------------------------
LOYALTY_PUBLIC_BASE_URL = os.environ.get("LOYALTY_PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
LOYALTY_PIN_MAX_ATTEMPTS = 5
LOYALTY_PIN_LOCK_MINUTES = 30
LOYALTY_EXPIRY_HOUR = int(os.environ.get("LOYALTY_EXPIRY_HOUR", "3"))
# Customer engagement jobs run in the morning in TIME_ZONE, when an email is welcome.
LOYALTY_BIRTHDAY_HOUR = int(os.environ.get("LOYALTY_BIRTHDAY_HOUR", "8"))
LOYALTY_REMINDER_HOUR = int(os.environ.get("LOYALTY_REMINDER_HOUR", "10"))
# The nightly tier review (cards move down only there), in TIME_ZONE.
LOYALTY_TIER_REVIEW_HOUR = int(os.environ.get("LOYALTY_TIER_REVIEW_HOUR", "4"))
LOYALTY_EXPIRY_BATCH_SIZE = int(os.environ.get("LOYALTY_EXPIRY_BATCH_SIZE", "2000"))
LOYALTY_MAX_PURCHASE_AMOUNT = "100000.00"
# Customers whose cards had no activity for longer than this many days are erased by a monthly job
# (customers/erasure.py); unset or empty keeps everyone.
_retention = os.environ.get("LOYALTY_RETENTION_DAYS", "").strip()
if _retention and not (_retention.isdigit() and int(_retention) >= 30):
    raise ImproperlyConfigured("LOYALTY_RETENTION_DAYS must be a whole number of days, at least 30 (or unset).")
LOYALTY_RETENTION_DAYS = int(_retention) if _retention else None
LOYALTY_RETENTION_HOUR = int(os.environ.get("LOYALTY_RETENTION_HOUR", "4"))
# Anomaly alerts (loyalty/services/alerts.py): a card with more stamps and earns than this in a day.
LOYALTY_ALERT_CARD_OPS_PER_DAY = int(os.environ.get("LOYALTY_ALERT_CARD_OPS_PER_DAY", "5"))
LOYALTY_ALERT_HOUR = int(os.environ.get("LOYALTY_ALERT_HOUR", "2"))

# --- Wallets ------------------------------------------------------------------------
LOYALTY_GOOGLE_SERVICE_ACCOUNT_JSON = env_optional("LOYALTY_GOOGLE_SERVICE_ACCOUNT_JSON")
if LOYALTY_GOOGLE_SERVICE_ACCOUNT_JSON:
    LOYALTY_GOOGLE_SERVICE_ACCOUNT_JSON = os.path.expanduser(LOYALTY_GOOGLE_SERVICE_ACCOUNT_JSON)
LOYALTY_GOOGLE_ISSUER_ID = env_optional("LOYALTY_GOOGLE_ISSUER_ID")
LOYALTY_GOOGLE_API_BASE_URL = os.environ.get(
    "LOYALTY_GOOGLE_API_BASE_URL", "https://walletobjects.googleapis.com/walletobjects/v1"
).rstrip("/")
LOYALTY_APPLE_PASS_TYPE_ID = env_optional("LOYALTY_APPLE_PASS_TYPE_ID")
LOYALTY_APPLE_TEAM_ID = env_optional("LOYALTY_APPLE_TEAM_ID")
LOYALTY_APPLE_CERT_PATH = env_optional("LOYALTY_APPLE_CERT_PATH")
LOYALTY_APPLE_KEY_PATH = env_optional("LOYALTY_APPLE_KEY_PATH")
LOYALTY_APPLE_KEY_PASSWORD = env_optional("LOYALTY_APPLE_KEY_PASSWORD")
LOYALTY_APPLE_WWDR_CERT_PATH = env_optional("LOYALTY_APPLE_WWDR_CERT_PATH")
LOYALTY_APPLE_APNS_URL = os.environ.get("LOYALTY_APPLE_APNS_URL", "https://api.push.apple.com").rstrip("/")
# The derived flags is_google_wallet_enabled / is_apple_wallet_enabled live in wallet/switches.py.

# --- Celery -------------------------------------------------------------------------
from celery.schedules import crontab  # noqa: E402 - kept with the rest of the Celery settings

LOYALTY_REDIS_BROKER_OPTIONS = {
    # A publish (the after-commit nudge of a POS operation) fails at once instead of retrying
    # a dead broker, and gives up on a silent one after 2 s; the outbox row stays and the
    # periodic sweep delivers it. Workers reconnect on their own (broker_connection_retry).
    "max_retries": 0,
    "socket_connect_timeout": 1,
    "socket_timeout": 2,
    # Longer than any task's time limit, so an acks_late task still running is not redelivered.
    "visibility_timeout": 2 * 60 * 60,
    # A half-open connection (Redis restarted behind a NAT or a proxy) is noticed within 10 s.
    "health_check_interval": 10,
    "socket_keepalive": True,
}
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = LOYALTY_REDIS_BROKER_OPTIONS
else:
    # Embedded default: a broker made of folders, shared by every local process.
    _broker_dir = VAR_DIR / "celery-broker"
    CELERY_BROKER_URL = "filesystem://localhost//"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "control_folder": str(VAR_DIR / "celery-control"),
    }
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A worker outlives any broker outage: it keeps reconnecting (Celery's default gives up
# after 100 tries and exits) and the same process resumes consuming when Redis is back.
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# Nothing here uses remote control (celery inspect/control) or the worker-to-worker gossip,
# mingle and heartbeats: they are extra Redis channels whose reconnect path has crashed the
# worker after a Redis restart. The worker command adds --without-gossip --without-mingle
# --without-heartbeat (deploy/run, bin/serve-embedded).
CELERY_WORKER_ENABLE_REMOTE_CONTROL = False
# On a lost connection, tasks running with acks_late cannot be acknowledged any more: cancel
# them and let the broker hand them out again (they are idempotent). Celery 6's default.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_TASK_PUBLISH_RETRY = False  # a POS request never waits on a dead broker; the sweep delivers
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 15 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 14 * 60
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "expire-points-nightly": {
        "task": "loyalty.tasks.expire_points",
        "schedule": crontab(hour=LOYALTY_EXPIRY_HOUR, minute=0),
    },
    "grant-birthday-rewards-daily": {
        "task": "loyalty.tasks.grant_birthday_rewards",
        "schedule": crontab(hour=LOYALTY_BIRTHDAY_HOUR, minute=0),
    },
    "send-expiry-reminders-daily": {
        "task": "loyalty.tasks.send_expiry_reminders",
        "schedule": crontab(hour=LOYALTY_REMINDER_HOUR, minute=0),
    },
    "detect-anomalies-nightly": {
        "task": "loyalty.tasks.detect_anomalies",
        "schedule": crontab(hour=LOYALTY_ALERT_HOUR, minute=15),
    },
    "review-tiers-nightly": {
        "task": "loyalty.tasks.review_tiers",
        "schedule": crontab(hour=LOYALTY_TIER_REVIEW_HOUR, minute=0),
    },
    "erase-inactive-customers-monthly": {
        "task": "customers.tasks.erase_inactive_customers",
        # Does nothing unless LOYALTY_RETENTION_DAYS is set.
        "schedule": crontab(day_of_month=1, hour=LOYALTY_RETENTION_HOUR, minute=0),
    },
    "purge-idempotency-records": {
        "task": "loyalty.tasks.purge_idempotency_records",
        "schedule": crontab(hour=LOYALTY_EXPIRY_HOUR, minute=30),
    },
    "sweep-emails": {
        "task": "notifications.tasks.sweep_emails",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "sweep-wallet-updates": {
        "task": "wallet.tasks.sweep_wallet_updates",
        "schedule": 60.0,
        # A sweep not started within the minute is superseded by the next one.
        "options": {"expires": 55},
    },
    "roll-up-insights": {
        "task": "insights.tasks.roll_up_ledger",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
}
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)

# --- Logging ------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

VAR_DIR.mkdir(parents=True, exist_ok=True)
STATIC_ROOT.mkdir(exist_ok=True)
if not REDIS_URL:
    for folder in (_broker_dir, VAR_DIR / "celery-control"):
        folder.mkdir(parents=True, exist_ok=True)
