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
from review.core.clock import isoformat
from review.core.db import get_session
from review.reports import charts
from review.reports.dashboard import dashboard as build_dashboard
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


def supervisor_required(view: Callable) -> Callable:
    @wraps(view)
    @login_required
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user.user.has_role("supervisor"):
            abort(403)
        return view(*args, **kwargs)

    return wrapper


def _range() -> DateRange:
    return parse_range(request.args.get("from"), request.args.get("to"))


def _queues_and_range():  # noqa: ANN202 - (queues, queue, range)
    session = get_session()
    queues = supervised_queues(session, current_user.user)
    return queues, report_queue(session, current_user.user, request.args.get("queue")), \
        _range()


@bp.get("/")
@supervisor_required
def dashboard():
    session = get_session()
    board = build_dashboard(session, supervised_queues(session, current_user.user))
    if request.args.get("format") == "json":
        return jsonify(board.to_dict())
    cards = [{"health": h, "flow_svg": charts.flow_chart(h.hours, f"{h.slug}: inflow and "
                                                          "decisions per hour, last 24 h"),
              "split_svg": charts.split_bar(h.split, f"{h.slug}: routing split, last 24 h")}
             for h in board.health]
    return render_template("supervise/dashboard.html", cards=cards, alerts=board.alerts,
                           as_of=isoformat(board.as_of))


@bp.get("/sla")
@supervisor_required
def sla():
    queues, queue, span = _queues_and_range()
    fmt = request.args.get("format")
    session = get_session()
    if fmt == "json":
        return jsonify(sla_report_json(session, queue, span))
    if fmt == "csv":
        table = request.args.get("table", "breaches")
        lines = sla_csv(session, queue, span, table)
        name = f"sla-{queue.slug}-{span.first}-{span.last}-{table}.csv"
        return Response(stream_with_context(lines), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    report = sla_report(session, queue, span)
    return render_template("supervise/sla.html", report=report, queues=queues, queue=queue,
                           span=span)


@bp.get("/reviewers")
@supervisor_required
def reviewers():
    session = get_session()
    queues = supervised_queues(session, current_user.user)
    slug = request.args.get("queue") or ""
    chosen = [report_queue(session, current_user.user, slug)] if slug else queues
    report = reviewer_report(session, chosen, _range())
    if request.args.get("format") == "json":
        return jsonify(report)
    return render_template("supervise/reviewers.html", report=report, queues=queues,
                           slug=slug, span=_range())


@bp.get("/quality")
@supervisor_required
def quality():
    queues, queue, span = _queues_and_range()
    version = request.args.get("version") or None
    report = quality_report(get_session(), queue, span, version)
    if request.args.get("format") == "json":
        return jsonify(report)
    return render_template("supervise/quality.html", report=report, queues=queues, queue=queue,
                           span=span, chart=charts.calibration_chart(report["calibration"]))


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
