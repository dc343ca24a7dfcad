"""A real HTTP proxy on 127.0.0.1 in front of the live server that plays a script of
faults (503/429 with Retry-After, an answer lost after the server acted, a server that
hangs) before forwarding, so the clients' retries are tested over real sockets."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests


@dataclass
class Fault:
    status: int | None = None  # answer this instead of the server's answer
    retry_after: str | None = None  # the Retry-After header sent with `status`
    forward_first: bool = False  # the server acts on the request, its answer is lost
    hang: float = 0.0  # seconds to stall before answering (a client timeout)


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class FaultProxy:
    """`script` is consumed one fault per request; once empty, requests are forwarded."""

    def __init__(self, upstream: str, script: list[Fault] | None = None) -> None:
        proxy = self
        self.upstream = upstream
        self.script = list(script or [])
        self.seen: list[Seen] = []
        self.release = threading.Event()
        self._lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with proxy._lock:
                    proxy.seen.append(Seen(self.command, self.path, dict(self.headers.items()),
                                           body))
                    fault = proxy.script.pop(0) if proxy.script else Fault()
                if fault.hang and proxy.release.wait(fault.hang):
                    return  # the proxy is stopping: the client has long given up
                if fault.forward_first or fault.status is None:
                    upstream = proxy.forward(self.command, self.path, dict(self.headers), body)
                if fault.status is None:
                    self._answer(upstream.status_code, upstream.content,
                                 upstream.headers.get("Retry-After"))
                    return
                error = {"error": {"code": "injected", "message": f"injected {fault.status}"}}
                self._answer(fault.status, json.dumps(error).encode(), fault.retry_after)

            def _answer(self, status: int, raw: bytes, retry_after: str | None) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(raw)))
                    if retry_after is not None:
                        self.send_header("Retry-After", retry_after)
                    self.end_headers()
                    self.wfile.write(raw)
                except OSError:
                    pass  # the client timed out and went away

            do_GET = do_POST = _handle  # noqa: N815 - http.server API

            def log_message(self, *_args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def forward(self, method: str, path: str, headers: dict[str, str],
                body: bytes) -> requests.Response:
        keep = {k: v for k, v in headers.items()
                if k.lower() in ("authorization", "content-type", "x-request-id", "user-agent")}
        return requests.request(method, self.upstream + path, headers=keep, data=body or None,
                                timeout=30)

    def stop(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()
