"""A `review worker` outlives a Redis outage: it waits, and works again when Redis is back.

Our own redis-server on a free port is stopped and started again on the same port,
empty, as a restarted Redis without persistence would be. An idle worker meets the
outage in RQ's wait for a job (RQ retries there itself); a busy one meets it when it
reports the job's end, which ends RQ's `work()` for good, and `run_worker` starts over.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from redis import Redis
from rq import Queue
from rq.job import Job, JobStatus

from tests.ops.procs import Output, RedisServer, wait_until

RECOVERY = 30  # seconds from Redis being back to a new job having run


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


class Worker:
    """`review worker` against our Redis and the test database, in its own session."""

    def __init__(self, tmp_path: Path, database_url: str, redis_url: str) -> None:
        self.redis_url = redis_url
        self.prefix = f"rvtest-{secrets.token_hex(4)}"
        env = {k: v for k, v in os.environ.items() if k != "REVIEW_SERVE_PID"}
        env.update(DATABASE_URL=database_url, REDIS_URL=redis_url, REDIS_PREFIX=self.prefix,
                   INSTANCE_DIR=str(tmp_path / "instance"), SECRET_KEY="test-secret",
                   LOG_FORMAT="text")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "review.cli", "worker"], env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.output = Output(self.proc.stdout)

    def enqueue(self, func: str, *args: object) -> Job:
        with Redis.from_url(self.redis_url) as connection:
            return Queue(f"{self.prefix}-default", connection=connection).enqueue(func, *args)

    def wait_ended(self, job: Job, timeout: float) -> str:
        """Wait for the job to finish or fail (on a fresh connection); its status."""
        with Redis.from_url(self.redis_url) as connection:
            job = Job.fetch(job.id, connection=connection)

            def ended() -> str | None:
                status = job.get_status(refresh=True)
                return status if status in (JobStatus.FINISHED, JobStatus.FAILED) else None

            return wait_until(ended, timeout, f"job {job.id} ({job.func_name}) to end", 0.1)

    def threads(self) -> int:
        return psutil.Process(self.proc.pid).num_threads()

    def assert_alive_for(self, seconds: float) -> None:
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            assert self.proc.poll() is None, f"the worker exited:\n{self.output.text}"
            time.sleep(0.25)

    def stop(self) -> int:
        """SIGTERM (a warm shutdown); its exit code."""
        os.kill(self.proc.pid, signal.SIGTERM)
        return self.proc.wait(timeout=15)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        if self.proc.stdout:
            self.proc.stdout.close()


@pytest.fixture
def worker(tmp_path: Path, database_url: str, redis_server: RedisServer) -> Iterator[Worker]:
    started = Worker(tmp_path, database_url, redis_server.url)
    try:
        started.output.wait_for(r"Listening on", timeout=60)
        # It works before the outage: the SLA clock's tick by its dotted name.
        job = started.enqueue("workers.sla.tick")
        assert started.wait_ended(job, 30) == JobStatus.FINISHED, started.output.text
        yield started
    finally:
        started.kill()


def _works_again(worker: Worker, back: float) -> None:
    """Redis has been back since `back` (monotonic): the same worker runs a new job."""
    job = worker.enqueue("workers.sla.tick")
    assert worker.wait_ended(job, RECOVERY) == JobStatus.FINISHED, worker.output.text
    print(f"a job ran {time.monotonic() - back:.1f} s after Redis was back")
    assert worker.proc.poll() is None, worker.output.text  # the same process all along
    assert worker.stop() == 0, worker.output.text  # and SIGTERM still stops it


@pytest.mark.slow
def test_an_idle_worker_survives_redis_down_for_30_s(worker: Worker, redis_server: RedisServer):
    redis_server.stop()
    worker.assert_alive_for(30)
    redis_server.start()  # same port, no data
    _works_again(worker, time.monotonic())


def test_a_worker_that_loses_redis_mid_job_starts_over_when_it_is_back(
        worker: Worker, redis_server: RedisServer):
    threads = worker.threads()  # main, the periodic-job ticker, RQ's pubsub listener
    job = worker.enqueue("time.sleep", 2)
    worker.output.wait_for(rf"time\.sleep\(2\) \({job.id}\)", timeout=10)  # it is running
    redis_server.stop()
    # RQ's work() ends: reporting the job's end fails, and so does its teardown.
    worker.output.wait_for(r"worker: lost Redis .*; starting over when it is back", timeout=10)
    worker.assert_alive_for(2)
    redis_server.start()
    back = time.monotonic()
    worker.output.wait_for(r"(?s)starting over when it is back.*Listening on", timeout=RECOVERY)
    # The RQ worker that ended left no thread behind (its pubsub listener would retry
    # for ever; one more after each outage).
    wait_until(lambda: worker.threads() <= threads, 5,
               f"the worker's threads to be back to {threads} (now {worker.threads()})")
    _works_again(worker, back)
