"""An RQ worker that outlives Redis outages, and stops on SIGTERM or SIGINT.

RQ's own loop retries a lost connection only while it waits for a job; a connection
error anywhere else (heartbeat, maintenance, the teardown's death notice) ends `work()`
for good. `run_worker` starts a fresh RQ worker after each such end, once Redis answers
again, with a backoff. It returns only when asked to stop (a signal) or, in burst mode,
when the queues are empty. Periodic jobs are enqueued by a ticker thread beside it
(`review.ops.schedule`).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from types import FrameType

from flask import Flask
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import SimpleWorker, Worker

from review.core.jobs import ALL_QUEUES, get_redis, rq_queue
from review.ops.schedule import start_ticker

log = logging.getLogger(__name__)

RETRY_FIRST = 1.0  # seconds before the first reconnection attempt
# The longest wait between two attempts, so also the longest a worker sleeps on after
# Redis is back. RQ's own retry loop (while it waits for a job) is capped at it too: its
# default, 60 s, left a worker idle for up to a minute after an outage of half a minute.
RETRY_MAX = 5.0


class _StopSignals:
    """Remembers that a stop was asked for, whichever handler (ours or RQ's) saw it."""

    def __init__(self) -> None:
        self.requested = threading.Event()

    def handle(self, signum: int, frame: FrameType | None) -> None:
        log.info("worker: signal %s, stopping", signal.Signals(signum).name)
        self.requested.set()

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self.handle)
        signal.signal(signal.SIGINT, self.handle)


def _worker_class(fork: bool, stop: _StopSignals) -> type[Worker]:
    base = Worker if fork else SimpleWorker

    class ReviewWorker(base):  # type: ignore[misc,valid-type]
        max_connection_wait_time = RETRY_MAX

        def request_stop(self, signum: int, frame: FrameType | None) -> None:
            stop.requested.set()
            super().request_stop(signum, frame)

    return ReviewWorker


def _redis_answers(app: Flask) -> bool:
    try:
        return bool(get_redis(app).ping())
    except (RedisError, OSError):
        return False


def _wait_for_redis(app: Flask, stop: _StopSignals) -> None:
    delay = RETRY_FIRST
    while not stop.requested.is_set() and not _redis_answers(app):
        log.warning("worker: Redis unavailable; retrying in %.0f s", delay)
        stop.requested.wait(delay)
        delay = min(delay * 2, RETRY_MAX)


def _watch_parent(parent_pid: int, stop: _StopSignals) -> None:
    """Stop when the process that started us is gone (`review serve` killed with -9)."""

    def watch() -> None:
        while not stop.requested.wait(1.0):
            if os.getppid() != parent_pid:
                log.warning("worker: parent %s is gone, stopping", parent_pid)
                os.kill(os.getpid(), signal.SIGTERM)
                return

    threading.Thread(target=watch, name="review-parent-watch", daemon=True).start()


def _stop_pubsub(worker: Worker) -> None:
    """Stop the pubsub thread of an RQ worker whose teardown failed.

    The teardown unsubscribes only after reporting the death to Redis; with Redis gone the
    thread stays, retrying for ever, one more after each outage (and, once Redis is back,
    listening on the channel of a worker that is no more).
    """
    thread = worker.pubsub_thread
    if thread is not None and thread.is_alive():
        thread.stop()  # it ends at its next turn and closes its connection


def run_worker(app: Flask, *, burst: bool = False, fork: bool = False,
               parent_pid: int | None = None) -> None:
    """Work the review queues until stopped; survive Redis going away and coming back."""
    stop = _StopSignals()
    stop.install()
    if parent_pid:
        _watch_parent(parent_pid, stop)
    worker_class = _worker_class(fork, stop)
    ticker = None if burst else start_ticker(app)
    restart_delay = RETRY_FIRST
    try:
        while not stop.requested.is_set():
            _wait_for_redis(app, stop)
            if stop.requested.is_set():
                break
            worker = worker_class([rq_queue(name, app) for name in ALL_QUEUES],
                                  connection=get_redis(app))
            started = time.monotonic()
            try:
                worker.work(burst=burst, with_scheduler=True)
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                # RQ's teardown reports the worker's death to Redis, which is down.
                log.warning("worker: lost Redis (%s); starting over when it is back", exc)
                _stop_pubsub(worker)
            stop.install()  # RQ's handlers are bound to the worker that just ended
            if burst:
                break
            # A worker that keeps ending at once must not spin: back off unless it ran a while.
            if time.monotonic() - started > RETRY_MAX * 2:
                restart_delay = RETRY_FIRST
            else:
                stop.requested.wait(restart_delay)
                restart_delay = min(restart_delay * 2, RETRY_MAX)
    finally:
        if ticker is not None:
            ticker.stop()

