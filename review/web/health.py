"""`GET /healthz` for load balancers and process supervisors.

503 only when the database is unreachable: without Redis the service still
takes items (jobs are swept later), so Redis down is reported, not fatal.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, redirect, url_for
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.wrappers import Response

from review.core.db import get_engine
from review.core.jobs import get_redis

bp = Blueprint("health", __name__)

# Seconds a balancer or client should wait before asking again when the database is
# down: the same hint the API's own 503s give (review/api/errors.py).
RETRY_AFTER = 5


@bp.get("/healthz")
def healthz():
    checks = {"database": "ok", "redis": "ok"}
    try:
        with get_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError:
        checks["database"] = "down"
    try:
        get_redis().ping()
    except (RedisError, OSError):
        checks["redis"] = "down"
    healthy = checks["database"] == "ok"
    status = "ok" if all(v == "ok" for v in checks.values()) else (
        "degraded" if healthy else "down")
    response = jsonify({"status": status, **checks})
    response.status_code = 200 if healthy else 503
    response.headers["Cache-Control"] = "no-store"
    if not healthy:
        response.headers["Retry-After"] = str(RETRY_AFTER)
    return response


@bp.get("/favicon.ico")
def favicon() -> Response:
    """Browsers ask for it on every page the HTML does not cover (JSON, downloads)."""
    return redirect(url_for("static", filename="favicon.svg"), code=301)
