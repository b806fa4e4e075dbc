import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Exit a worker whose consumer is stuck after a Redis restart (core/worker_watchdog.py).
from core.worker_watchdog import StuckConsumerWatchdog  # noqa: E402

app.steps["worker"].add(StuckConsumerWatchdog)
