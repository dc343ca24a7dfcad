"""/metrics for Prometheus: wants METRICS_TOKEN as a bearer token when it is set, and
in production (PRODUCTION=1) is refused until it is set: the series name every queue
and its backlog, which are not for anyone who can reach the port."""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, request

from review.api.errors import ApiError
from review.core.db import get_session
from review.core.settings import settings
from review.ops.metrics import CONTENT_TYPE, render_metrics

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics():
    token = settings().METRICS_TOKEN
    if not token and settings().PRODUCTION:
        raise ApiError(403, "metrics_token_required",
                       "/metrics is off: in production (PRODUCTION=1) set METRICS_TOKEN and "
                       "scrape with 'Authorization: Bearer <token>'.")
    if token:
        sent = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(sent, token):
            raise ApiError(401, "unauthorized", "Send the metrics token as a bearer token.",
                           headers={"WWW-Authenticate": "Bearer"})
    body = render_metrics(get_session())
    get_session().rollback()  # read-only: end the transaction before the response
    return Response(body, content_type=CONTENT_TYPE)
