"""Fixtures of the webhook tests: `review worker` processes that leave nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest
from flask import Flask
from rq.scheduler import RQScheduler

from review.core.jobs import ALL_QUEUES, get_redis, rq_queue
from review.core.settings import settings


def forget_periodic_claims(app: Flask) -> None:
    """Drop the periodic-job slots a worker's ticker claimed. The tests of one run share
    a Redis prefix, so a claim left here would make a later test that enqueues the
    periodic jobs itself (tests/ops/test_sla_clock.py) find its slot already taken."""
    with app.app_context():
        redis = get_redis()
        for key in redis.scan_iter(match=f"{settings().REDIS_PREFIX}:periodic:*"):
            redis.delete(key)


def stop_workers(app: Flask, procs: list[subprocess.Popen]) -> None:
    """Kill the workers (their process groups), then forget what they held: their
    tickers' periodic slots, and the scheduler lock, which a killed worker's scheduler
    would hold for a minute (a later test's worker could then schedule nothing)."""
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    forget_periodic_claims(app)
    with app.app_context():
        for name in ALL_QUEUES:
            get_redis().delete(RQScheduler.get_locking_key(rq_queue(name).name))


@pytest.fixture
def review_worker(app: Flask, worker_process):
    """`worker_process`, and at teardown the workers are killed and their periodic
    slots forgotten."""
    started: list[subprocess.Popen] = []

    def _start(*args: str, **env: object) -> subprocess.Popen:
        proc = worker_process(*args, **env)
        started.append(proc)
        return proc

    yield _start
    stop_workers(app, started)
