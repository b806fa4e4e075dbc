"""gunicorn for the web process (deploy/run web): sync workers behind nginx (README, "Production").

Values come from the environment so one file serves every host.
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# CPU-bound requests: one sync worker per core plus one (README explains the measurements).
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() + 1))
worker_class = "sync"
# Import the app once before forking: no worker's first request pays for the imports.
preload_app = True
timeout = 30
graceful_timeout = 20
# nginx buffers slow clients; keep-alive does not apply to sync workers.
keepalive = 2
# Trust X-Forwarded-* only from the local reverse proxy.
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")
# Recycle workers now and then so a slow leak cannot grow for ever.
max_requests = 5000
max_requests_jitter = 500
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
limit_request_line = 8190
limit_request_fields = 100
