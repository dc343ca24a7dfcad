"""The moving parts of the chaos run: real processes we can kill -9, a private
Redis we can stop, a throwaway PostgreSQL database we can cut off, and the
checker and webhook receiver whose behaviour we can switch to hang or fail.

Nothing here touches anything shared: the Redis server is our own on a free
port, the database is our own on the shared server (never restarted), and
every process is ended by its own process-group id.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from sqlalchemy import create_engine, text


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, deadline: float = 30) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


class Proc:
    """One restartable process in its own process group (so kill -9 takes its children)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name, self.argv, self.env = name, argv, env
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen | None = None
        self.kills = 0
        self.starts = 0
        self.hold = threading.Event()  # set: keep it down (a deliberate outage)

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(self.argv, env=self.env, stdout=log, stderr=log,
                                     start_new_session=True)
        log.close()
        self.starts += 1

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=30)
            self.kills += 1

    def children(self) -> list[int]:
        if self.proc is None:
            return []
        try:
            out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True,
                                 text=True, check=False).stdout
        except FileNotFoundError:
            return []
        return [int(p) for p in out.split()]

    def kill9_child(self) -> bool:
        """kill -9 one child (a gunicorn worker, an RQ work horse), if any."""
        kids = self.children()
        if not kids:
            return False
        try:
            os.kill(random.choice(kids), signal.SIGKILL)
        except ProcessLookupError:
            return False
        self.kills += 1
        return True


class Supervisor(threading.Thread):
    """Restarts any process that died, like systemd or Kubernetes would."""

    def __init__(self, procs: list[Proc]) -> None:
        super().__init__(daemon=True)
        self.procs = procs
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            for proc in self.procs:
                if not proc.alive() and not proc.hold.is_set():
                    proc.start()
            self.stopped.wait(0.3)

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=5)
        for proc in self.procs:
            proc.kill9()


class PrivateRedis:
    """Our own redis-server on a free port; `down()` kills it (data and all)."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        binary = shutil.which("redis-server") or str(Path(sys.executable).parent /
                                                     "redis-server")
        self.proc = Proc("redis", [binary, "--port", str(self.port), "--bind", "127.0.0.1",
                                   "--save", "", "--appendonly", "no"],
                         dict(os.environ), log_dir)
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def up(self) -> None:
        self.proc.start()
        wait_port(self.port)

    def down(self) -> None:
        self.proc.kill9()


class Database:
    """A throwaway database on the shared server that can be made unreachable."""

    def __init__(self, server_url: str, url: str, name: str) -> None:
        self.url, self.name = url, name
        self.admin = create_engine(server_url.replace("postgresql://", "postgresql+psycopg://",
                                                      1), isolation_level="AUTOCOMMIT")
        self.engine = create_engine(url)
        self.down_now = threading.Event()

    def cut_off(self) -> None:
        self.down_now.set()
        with self.admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false'))
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": self.name})

    def restore(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true'))
        self.down_now.clear()

    def dispose(self) -> None:
        self.engine.dispose()
        self.admin.dispose()


class Switchable(ThreadingHTTPServer):
    """An HTTP endpoint whose mode is `ok`, `hang` (answers after `hang_for`) or `fail` (500)."""

    daemon_threads = True

    def __init__(self, answer, hang_for: float) -> None:  # noqa: ANN001 - (body) -> dict
        self.mode = "ok"
        self.hang_for = hang_for
        self.answer = answer
        self.lock = threading.Lock()
        self.answered_ok: dict[str, int] = {}  # event id -> 2xx answers sent
        self.bodies: dict[str, tuple[dict, bytes]] = {}  # event id -> (headers, body)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                mode = server.mode
                if mode == "hang":
                    time.sleep(server.hang_for)
                status = 500 if mode == "fail" else 200
                payload = json.dumps(server.answer(body) if status == 200 else
                                     {"error": "chaos"}).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    self.wfile.flush()
                except OSError:
                    return  # the sender gave up (timeout) or was killed
                event = self.headers.get("X-Review-Event-Id")
                if event and status == 200 and mode == "ok":
                    with server.lock:
                        server.answered_ok[event] = server.answered_ok.get(event, 0) + 1
                        server.bodies[event] = (dict(self.headers.items()), body)

            def log_message(self, *_args) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}/hook"
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


def judge(body: bytes) -> dict:
    """The checker's verdict: pass or fail, half each, stable per item."""
    digest = sum(body) % 2
    return {"verdict": "pass" if digest else "fail", "score": 0.5 + 0.4 * digest,
            "reason": "chaos judge"}
