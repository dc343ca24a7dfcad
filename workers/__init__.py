"""RQ job functions. Each job loads ids, calls one service function.

Jobs run inside an app context of an app built from the environment (or the
one `review worker` built), with a fresh connection pool after RQ's fork.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask

from review.core.logs import job_log_context
from review.core.tracing import job_trace_context
from review.factory import create_app

T = TypeVar("T")

_state: dict[str, Any] = {}


def set_app(app: Flask) -> None:
    _state["app"] = app
    _state["pid"] = os.getpid()


def job_app() -> Flask:
    app = _state.get("app")
    if app is None:
        app = create_app()
        set_app(app)
    if _state.get("pid") != os.getpid():
        # Forked work horse: never share the parent's pooled sockets.
        app.extensions["review.engine"].dispose(close=False)
        app.extensions.pop("review.redis", None)
        _state["pid"] = os.getpid()
    return app


def in_app(func: Callable[..., T], *args: Any) -> T:
    with job_app().app_context(), job_log_context(), job_trace_context():
        return func(*args)
