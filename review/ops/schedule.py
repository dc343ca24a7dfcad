"""Periodic jobs (the sweeper, the SLA clock) without a system cron.

Every `review worker` runs a small ticker thread that, at each interval
boundary, enqueues the periodic job as an ordinary RQ job. With several
workers, only the first to claim a time slot (Redis `SET NX` on
`<prefix>:periodic:<name>:<slot>`) enqueues it, and the job id is
deterministic per slot too; the jobs are idempotent anyway, so a slot run
twice would cost only time. If every worker is down nothing runs, and the
next worker to start catches up in its first slot: the jobs look at the
database, not at what they missed.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from flask import Flask
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue

from review.core.jobs import DEFAULT, connect_redis
from review.core.settings import settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    func: str
    interval_setting: str  # the config key holding the interval in seconds

    def interval(self, app: Flask) -> int:
        return max(1, int(getattr(settings(app), self.interval_setting)))


PERIODIC_JOBS = (
    PeriodicJob("sweep", "workers.sweep.sweep", "SWEEP_INTERVAL"),
    PeriodicJob("sla", "workers.sla.tick", "SLA_TICK_INTERVAL"),
    PeriodicJob("retention", "workers.retention.purge", "RETENTION_INTERVAL"),
    # Also the scheduler's heartbeat (review/core/liveness.py).
    PeriodicJob("alerts", "workers.alerts.evaluate", "ALERT_EVAL_INTERVAL"),
    PeriodicJob("rollups", "workers.rollups.refresh", "ROLLUP_INTERVAL"),
    PeriodicJob("learning", "workers.learning.refresh", "LEARN_INTERVAL"),
)


def enqueue_due(app: Flask, connection: Redis, now: float | None = None) -> list[str]:
    """Enqueue every periodic job whose current slot nobody has claimed; return job ids."""
    now = time.time() if now is None else now
    prefix = settings(app).REDIS_PREFIX
    queue = Queue(f"{prefix}-{DEFAULT}", connection=connection)
    enqueued = []
    for job in PERIODIC_JOBS:
        interval = job.interval(app)
        slot = int(now // interval)
        claim = f"{prefix}:periodic:{job.name}:{slot}"
        if not connection.set(claim, "1", nx=True, ex=interval * 2 + 60):
            continue
        job_id = f"{prefix}-periodic-{job.name}-{slot}"
        queue.enqueue(job.func, job_id=job_id, job_timeout=max(60, interval * 4),
                      result_ttl=interval * 2, failure_ttl=86400)
        enqueued.append(job_id)
    return enqueued


class Ticker(threading.Thread):
    """Calls `enqueue_due` at every slot boundary until stopped."""

    def __init__(self, app: Flask) -> None:
        super().__init__(name="review-periodic", daemon=True)
        self.app = app
        self.stopped = threading.Event()
        # Its own connection: RQ's worker forks work horses from the main
        # thread and must not share sockets with this thread.
        self.connection = connect_redis(app)

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                enqueue_due(self.app, self.connection)
            except (RedisError, OSError) as exc:
                log.warning("periodic jobs not enqueued, Redis unavailable: %s", exc)
            self.stopped.wait(self._seconds_to_next_slot())

    def _seconds_to_next_slot(self) -> float:
        now = time.time()
        waits = [job.interval(self.app) - now % job.interval(self.app) for job in PERIODIC_JOBS]
        return min(waits) + 0.05

    def stop(self) -> None:
        self.stopped.set()


def start_ticker(app: Flask) -> Ticker:
    ticker = Ticker(app)
    ticker.start()
    return ticker
