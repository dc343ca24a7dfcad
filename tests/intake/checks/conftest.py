"""A real HTTP checker service on 127.0.0.1 for the http checker tests.

Each test scripts the answers per path; the server records every request it
receives so tests can assert what actually went over the wire.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

HANG = "hang"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Judge:
    """The test's handle on the server: script answers, read what arrived."""

    base_url: str
    scripts: dict[str, list[tuple[int, bytes, dict[str, str]]]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return self.base_url + path

    def respond(self, path: str, *answers: Any) -> str:
        """Answer `path` with these in turn (the last one repeats); return its URL.

        An answer is a dict (sent as JSON with 200), raw bytes (200), a
        (status, body[, headers]) tuple, or HANG to stall until the test ends.
        """
        script = []
        for answer in answers:
            if isinstance(answer, tuple):
                status, body, *rest = answer
                headers = rest[0] if rest else {}
            else:
                status, body, headers = 200, answer, {}
            if isinstance(body, dict | list):
                body = json.dumps(body).encode()
            elif isinstance(body, str) and body != HANG:
                body = body.encode()
            script.append((status, body, headers))
        self.scripts[path] = script
        return self.url(path)

    def hits(self, path: str) -> int:
        with self.lock:
            return sum(1 for r in self.received if r.path == path)

    def next_answer(self, path: str) -> tuple[int, Any, dict[str, str]]:
        with self.lock:
            script = self.scripts.get(path)
            if not script:
                return 404, b'{"error": "no script"}', {}
            return script.pop(0) if len(script) > 1 else script[0]


def _handler(judge: Judge) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with judge.lock:
                judge.received.append(Received(self.path, dict(self.headers.items()), body))
            status, answer, headers = judge.next_answer(self.path)
            if answer == HANG:
                judge.release.wait(10)
                status, answer = 200, b'{"verdict": "pass"}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            try:
                self.wfile.write(answer)
            except OSError:
                pass  # the client gave up (timeout test)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def judge() -> Iterator[Judge]:
    judge = Judge(base_url="")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(judge))
    server.daemon_threads = True
    judge.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield judge
    finally:
        judge.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
