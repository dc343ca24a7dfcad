"""gunicorn settings for review:
`gunicorn -c deploy/gunicorn.conf.py 'review.factory:create_app()'`.

Every value can be set from the environment (the names below), so the same
file serves systemd, a Procfile runner and a container.
"""

from __future__ import annotations

import multiprocessing
import os

from gunicorn.glogging import Logger

# BIND wins; PORT alone (Heroku-style) listens on every interface; else local only.
bind = os.environ.get("BIND") or (
    f"0.0.0.0:{os.environ['PORT']}" if os.environ.get("PORT") else "127.0.0.1:8000")
# Requests are I/O bound (database, Redis): a few threads per process go far.
workers = int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count() * 2 + 1)
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
# Recycle workers now and then so a slow leak never becomes an outage.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "2000"))
max_requests_jitter = max_requests // 10
# Each worker builds its own app: database pools and Redis clients must not
# cross a fork.
preload_app = False
# Trust X-Forwarded-* only from the local reverse proxy (FORWARDED_ALLOW_IPS).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# The app logs one line per request itself (review/core/logs.py, with the
# request id); gunicorn's access log would only repeat it.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")


class ReviewLogger(Logger):
    """gunicorn's own lines in the app's format, so LOG_FORMAT=json means every line."""

    def setup(self, cfg) -> None:  # noqa: ANN001 - gunicorn's Config
        super().setup(cfg)
        fmt = os.environ.get("LOG_FORMAT", "").lower()
        production = os.environ.get("PRODUCTION", "").lower() in {"1", "true", "yes", "on"}
        if fmt == "json" or (not fmt and production):
            from review.core.logs import JsonFormatter

            for handler in self.error_log.handlers:
                handler.setFormatter(JsonFormatter())


logger_class = ReviewLogger


def child_exit(server, worker) -> None:  # noqa: ANN001 - gunicorn hook
    # Prometheus multiprocess mode: forget the metrics files of dead workers.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
