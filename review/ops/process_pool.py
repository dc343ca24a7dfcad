"""The child processes of `review serve`: started together, restarted with a backoff when
one dies, stopped together.

Children run in their own process group, so a Ctrl-C in the terminal reaches only
`review serve`, which then stops them in order; SIGTERM to its pid (systemd, Docker,
supervisord, `kill PID`) does the same. A child that outlives the grace period is killed.

A child's own children (RQ's scheduler process, a `--fork` work horse) are in its group.
When the child ends, however it ended, whatever is left of its group is killed: a worker
killed with -9 would otherwise leave its scheduler running for good, holding RQ's
scheduler locks and a Redis connection. The child is reaped only after that, so its pid,
and with it the group id, cannot have been reused by then.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

BACKOFF_FIRST = 1.0
BACKOFF_MAX = 60.0
STABLE_AFTER = 60.0  # a child alive this long has its backoff reset


@dataclass
class _Child:
    name: str
    argv: Sequence[str]
    env: dict[str, str]
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    backoff: float = BACKOFF_FIRST
    restart_at: float | None = None
    restarts: int = field(default=0)


def _exited(proc: subprocess.Popen) -> bool:
    """Whether the child has ended, without reaping it (its pid stays reserved)."""
    if proc.returncode is not None:
        return True
    if not hasattr(os, "waitid"):  # macOS: reap it; its group id is free again from here on
        return proc.poll() is not None
    try:
        return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:  # reaped behind our back
        proc.poll()
        return True


def _end_group(proc: subprocess.Popen) -> int:
    """SIGKILL what is left of the child's process group, then reap the child; its code."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    return proc.wait()


class ProcessPool:
    """Keeps each child alive until `stop()`; `check()` is its supervision step."""

    def __init__(self) -> None:
        self.children: list[_Child] = []
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, name: str, argv: Sequence[str], env: dict[str, str]) -> None:
        child = _Child(name, list(argv), env)
        self.children.append(child)
        self._spawn(child)

    def _spawn(self, child: _Child) -> None:
        child.proc = subprocess.Popen(child.argv, env=child.env, start_new_session=True)
        child.started_at = time.monotonic()
        child.restart_at = None
        log.info("started %s (pid %s)", child.name, child.proc.pid)

    def check(self) -> None:
        """Restart children that died, each after its own backoff."""
        now = time.monotonic()
        for child in self.children:
            if self._stopping.is_set():
                return
            if child.proc is not None and not _exited(child.proc):
                if now - child.started_at > STABLE_AFTER:
                    child.backoff = BACKOFF_FIRST
                continue
            if child.restart_at is None:
                code = _end_group(child.proc) if child.proc else None
                child.restart_at = now + child.backoff
                log.warning("%s (pid %s) exited with %s; restarting in %.0f s", child.name,
                            child.proc.pid if child.proc else "-", code, child.backoff)
                child.backoff = min(child.backoff * 2, BACKOFF_MAX)
            elif now >= child.restart_at:
                child.restarts += 1
                self._spawn(child)

    def watch(self, interval: float = 0.5) -> None:
        """Run `check` in a background thread until `stop()`."""

        def loop() -> None:
            while not self._stopping.wait(interval):
                self.check()

        self._thread = threading.Thread(target=loop, name="review-process-pool", daemon=True)
        self._thread.start()

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM every child, wait up to `grace` seconds, then SIGKILL what is left.

        Only the child itself gets the SIGTERM (a worker's warm shutdown lets its job
        finish and stops its scheduler); the SIGKILL goes to its whole process group.
        """
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
        procs = [c.proc for c in self.children if c.proc is not None and c.proc.returncode is None]
        for proc in procs:
            if not _exited(proc):
                # Not Popen.terminate(): it would reap an exited child first.
                os.kill(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        running = [proc for proc in procs if not _exited(proc)]
        while running and time.monotonic() < deadline:
            time.sleep(0.05)
            running = [proc for proc in running if not _exited(proc)]
        for proc in running:
            log.warning("pid %s did not stop in %.0f s; killing it", proc.pid, grace)
        for proc in procs:
            _end_group(proc)
