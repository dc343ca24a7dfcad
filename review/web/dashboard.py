"""Supervisor pages: the dashboard and the SLA, reviewer and quality reports.

Thin views: parse the query string, call one report function, render or
export. Supervisors see the queues they are members of, admins all queues
(review/core/access.py); anyone else gets 403.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    jsonify,
    render_template,
    request,
    stream_with_context,
)
from flask_login import current_user, login_required

from review.core.access import report_queue, supervised_queues
from review.core.clock import isoformat, utcnow
from review.core.db import close_after, get_reports_session
from review.core.errors import BadArgument
from review.reports import charts
from review.reports.dashboard import dashboard as build_dashboard
from review.reports.forecast import queue_forecast
from review.reports.quality import quality_report
from review.reports.sla_report import (
    DateRange,
    parse_range,
    sla_csv,
    sla_report,
    sla_report_json,
)
from review.reports.workload import reviewer_report

bp = Blueprint("supervise", __name__, url_prefix="/supervise")

# The item list behind each alert kind, as filters of the manage page's Items tab.
ALERT_FILTERS = {
    "backlog_cap": {"status": "open", "sort": "oldest"},
    "clear_time": {"status": "open", "sort": "due"},
    "stalled": {"status": "pending", "sort": "oldest"},
    "breach_rate": {"status": "decided", "sort": "decided"},
}
DEFAULT_REFRESH_SECONDS = 30


def _refresh_seconds() -> int:
    """How often the page refreshes itself; ?refresh=N (5..3600) for a wall display."""
    raw = request.args.get("refresh", "")
    return min(3600, max(5, int(raw))) if raw.isdigit() and len(raw) < 6 \
        else DEFAULT_REFRESH_SECONDS


def supervisor_required(view: Callable) -> Callable:
    @wraps(view)
    @login_required
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user.user.has_role("supervisor"):
            abort(403)
        return view(*args, **kwargs)

    return wrapper


def _range() -> tuple[DateRange, str | None]:
    """The requested range, or for a page (not an export) with a bad one the default
    range and the message to show above the report: a person sees the form again,
    with what was wrong, not a JSON error."""
    try:
        return parse_range(request.args.get("from"), request.args.get("to")), None
    except BadArgument as exc:
        if request.args.get("format") in ("json", "csv"):
            raise
        return parse_range(None, None), exc.message


def _queues_and_range():  # noqa: ANN202 - (queues, queue, range, error)
    session = get_reports_session()
    queues = supervised_queues(session, current_user.user)
    span, error = _range()
    return queues, report_queue(session, current_user.user, request.args.get("queue")), \
        span, error


def _page(template: str, error: str | None, **values: Any) -> tuple[str, int]:
    return render_template(template, range_error=error, **values), 400 if error else 200


@bp.get("/")
@supervisor_required
def dashboard():
    session = get_reports_session()
    board = build_dashboard(session, supervised_queues(session, current_user.user))
    if request.args.get("format") == "json":
        return jsonify(board.to_dict())
    cards = [{"health": h, "flow_svg": charts.flow_chart(h.hours, f"{h.slug}: inflow and "
                                                          "decisions per hour, last 24 h"),
              "split_svg": charts.split_bar(h.split, f"{h.slug}: routing split, last 24 h")}
             for h in board.health]
    return render_template("supervise/dashboard.html", cards=cards, alerts=board.alerts,
                           as_of=isoformat(board.as_of), alert_filters=ALERT_FILTERS,
                           refresh_seconds=_refresh_seconds())


@bp.get("/sla")
@supervisor_required
def sla():
    queues, queue, span, error = _queues_and_range()
    fmt = request.args.get("format")
    session = get_reports_session()
    if fmt == "json":
        return jsonify(sla_report_json(session, queue, span))
    if fmt == "csv":
        table = request.args.get("table", "breaches")
        lines = sla_csv(session, queue, span, table)
        name = f"sla-{queue.slug}-{span.first}-{span.last}-{table}.csv"
        return Response(stream_with_context(close_after(session, lines)), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    report = sla_report(session, queue, span)
    return _page("supervise/sla.html", error, report=report, queues=queues, queue=queue,
                 span=span)


@bp.get("/reviewers")
@supervisor_required
def reviewers():
    session = get_reports_session()
    queues = supervised_queues(session, current_user.user)
    slug = request.args.get("queue") or ""
    chosen = [report_queue(session, current_user.user, slug)] if slug else queues
    span, error = _range()
    report = reviewer_report(session, chosen, span)
    if request.args.get("format") == "json":
        return jsonify(report)
    return _page("supervise/reviewers.html", error, report=report, queues=queues, slug=slug,
                 span=span)


@bp.get("/quality")
@supervisor_required
def quality():
    queues, queue, span, error = _queues_and_range()
    version = request.args.get("version") or None
    report = quality_report(get_reports_session(), queue, span, version)
    if request.args.get("format") == "json":
        return jsonify(report)
    return _page("supervise/quality.html", error, report=report, queues=queues, queue=queue,
                 span=span, chart=charts.calibration_chart(report["calibration"]))


@bp.get("/forecast")
@supervisor_required
def forecast():
    """The next 24 hours of a queue: inflow, throughput and backlog per hour, and the
    reviewers the SLA needs (review/reports/forecast.py says how)."""
    session = get_reports_session()
    queues = supervised_queues(session, current_user.user)
    queue = report_queue(session, current_user.user, request.args.get("queue"))
    report = queue_forecast(session, queue, utcnow())
    if request.args.get("format") == "json":
        return jsonify(report)
    return render_template("supervise/forecast.html", report=report, queues=queues,
                           queue=queue)


@bp.app_template_filter("duration")
def duration(seconds: float | None) -> str:
    """120 -> '2m', 5400 -> '1h 30m'; None -> '-'."""
    if seconds is None:
        return "-"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, _ = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours < 1:
        return f"{minutes}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h" if days else f"{hours}h {minutes}m"


@bp.app_template_filter("percent")
def percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"
