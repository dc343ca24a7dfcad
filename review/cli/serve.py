"""`review serve` (all in one: migrate, bootstrap, workers, web server) and `review worker`.

The web server is waitress: a production WSGI server (a bounded thread pool, a request
queue, slow clients buffered off the threads) that runs in this process, so the embedded
Redis it shares with the workers stays a child of one process and the stop signals stay
ours. gunicorn remains the recipe for PostgreSQL deployments (docs/operations.md).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from types import FrameType

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from waitress.server import BaseWSGIServer, create_server

from review.core import migrate
from review.core.db import get_session
from review.core.jobs import redis_url, release_redis
from review.core.settings import settings
from review.ops.bootstrap import FirstRun, first_run
from review.ops.process_pool import ProcessPool
from review.ops.worker import run_worker
from workers import set_app


def _app() -> Flask:
    return current_app._get_current_object()  # type: ignore[attr-defined]


@click.command("worker")
@click.option("--burst", is_flag=True, help="Exit when the queues are empty.")
@click.option("--fork", is_flag=True,
              help="Run each job in a forked work horse (RQ's Worker) instead of in-process.")
@with_appcontext
def worker(burst: bool, fork: bool) -> None:
    """Run an RQ worker (checks, webhooks, periodic jobs) until SIGTERM or Ctrl-C.

    Jobs run in-process by default (RQ's SimpleWorker): a fork and a fresh database
    connection per job capped webhook delivery at ~10/s. Jobs are short, idempotent and
    time-limited, and a worker that dies is replaced by its supervisor, its jobs re-found
    by the sweeper, so the horse's isolation buys little; `--fork` brings it back.
    The worker outlives Redis outages: it waits for Redis and resumes.
    """
    app = _app()
    set_app(app)
    parent = os.environ.get("REVIEW_SERVE_PID")
    run_worker(app, burst=burst, fork=fork, parent_pid=int(parent) if parent else None)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", "n_workers", default=1, show_default=True, type=int,
              help="RQ worker processes to run beside the web server.")
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 64),
              help="Web server threads (requests handled at once; more wait in its queue).")
@with_appcontext
def serve(host: str, port: int, n_workers: int, threads: int) -> None:
    """All in one: migrate, bootstrap, RQ worker(s) and the web server.

    SIGTERM or SIGINT (Ctrl-C) stops the server, then every worker, then the embedded
    Redis; a worker that dies meanwhile is restarted with a backoff.
    """
    stop = _StopSignal()
    stop.install()  # first: a signal during the migrations still ends in an orderly stop
    app = _app()
    migrate.upgrade(settings(app).DATABASE_URL)
    created = first_run(get_session())
    if created:
        _print_first_run(created, host, port)
    # Neither REDIS_URL nor REDIS_SENTINELS: redis_url() below starts the embedded Redis.
    embedded = not settings(app).REDIS_URL and not settings(app).REDIS_SENTINELS
    pool = ProcessPool()
    try:
        if not stop.requested.is_set():
            # The workers join the same Redis (the embedded one lives in this process).
            env = {**os.environ, "REVIEW_SERVE_PID": str(os.getpid())}
            if not settings(app).REDIS_SENTINELS:
                env["REDIS_URL"] = redis_url(app)
            for n in range(n_workers):
                pool.add(f"worker-{n + 1}", [sys.executable, "-m", "review.cli", "worker"], env)
            pool.watch()
            # Bind first, then announce: whoever reads the line can connect at once.
            server = create_server(app, host=host, port=port, threads=threads,
                                   connection_limit=1000, ident="review")
            try:
                if not stop.requested.is_set():
                    click.echo(f"review is up at http://{host}:{port}/  (Ctrl-C stops it)")
                    _serve_until(server, stop.requested)
            finally:
                _close(server)
    finally:
        pool.stop()
        release_redis(app, embedded)
    click.echo("review stopped")


def _serve_until(server: BaseWSGIServer, stop: threading.Event) -> None:
    """waitress's own run() loops until its socket map empties; this is the same loop,
    one poll at a time, ending within half a second of a stop signal setting `stop`."""
    while not stop.is_set():
        server.asyncore.loop(timeout=0.5, map=server._map, use_poll=True, count=1)


def _close(server: BaseWSGIServer) -> None:
    """Let requests in flight finish (up to 10 s), then close every socket."""
    server.task_dispatcher.shutdown(cancel_pending=False, timeout=10)
    for channel in list(server._map.values()):
        channel.close()


class _StopSignal:
    """SIGTERM and SIGINT stop the web server, or keep it from starting."""

    def __init__(self) -> None:
        self.requested = threading.Event()

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self.handle)
        signal.signal(signal.SIGINT, self.handle)

    def handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested.set()


def _print_first_run(created: FirstRun, host: str, port: int) -> None:
    click.echo("=" * 72)
    click.echo("First run: save these now, they are shown only once.")
    click.echo(f"  admin login:     {created.admin_name} / {created.admin_password}")
    click.echo(f"  submit API key:  {created.submit_key}")
    click.echo(f"  webhook secret:  {created.webhook_secret}")
    click.echo("Try it:")
    click.echo(f"  curl -s -X POST http://{host}:{port}/api/v1/items \\")
    click.echo(f"    -H 'Authorization: Bearer {created.submit_key}' \\")
    click.echo("    -H 'Content-Type: application/json' \\")
    click.echo("    -d '{\"queue\": \"demo\", \"output\": \"Your refund was sent.\", "
               "\"confidence\": 0.42}'")
    click.echo("=" * 72)
