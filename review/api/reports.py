"""Supervisor reports over the API (admin keys): dashboard, SLA, reviewers, quality."""

from __future__ import annotations

from flask import Response, jsonify, request, stream_with_context

from review.api.blueprint import bp
from review.api.errors import ApiError
from review.api.keys import require_key
from review.api.openapi import PATHS, json_content, operation, query_param
from review.core.access import report_queue, report_queues, supervised_queues
from review.core.clock import utcnow
from review.core.db import close_after, get_reports_session
from review.reports.cost import cost_report
from review.reports.dashboard import dashboard
from review.reports.forecast import queue_forecast
from review.reports.overload import overflow_report
from review.reports.quality import quality_report
from review.reports.sla_report import parse_range, sla_csv, sla_report_json
from review.reports.workload import reviewer_report


def _queue():  # noqa: ANN202 - a Queue
    slug = request.args.get("queue")
    if not slug:
        raise ApiError(400, "missing_queue", "Give the queue as ?queue=SLUG.")
    return report_queue(get_reports_session(), None, slug)


def _range():  # noqa: ANN202 - a DateRange
    raw_from, raw_to = request.args.get("from"), request.args.get("to")
    if "" in (raw_from, raw_to):
        # The web form sends empty fields for "default"; an API client means a date.
        raise ApiError(400, "bad_date", "from and to must be dates as YYYY-MM-DD.")
    return parse_range(raw_from, raw_to)


@bp.get("/reports/dashboard")
@require_key("admin")
def report_dashboard():
    session = get_reports_session()
    return jsonify(dashboard(session, supervised_queues(session, None)).to_dict())


@bp.get("/reports/sla")
@require_key("admin")
def report_sla():
    queue, span = _queue(), _range()
    fmt = request.args.get("format", "json")
    if fmt == "csv":
        session = get_reports_session()
        lines = sla_csv(session, queue, span, request.args.get("table", "breaches"))
        return Response(stream_with_context(close_after(session, lines)), mimetype="text/csv")
    if fmt != "json":
        raise ApiError(400, "bad_format", "format must be json or csv.")
    return jsonify(sla_report_json(get_reports_session(), queue, span))


@bp.get("/reports/reviewers")
@require_key("admin")
def report_reviewers():
    session = get_reports_session()
    slug = request.args.get("queue")
    queues = report_queues(session, None, slug)
    return jsonify(reviewer_report(session, queues, _range()))


@bp.get("/reports/quality")
@require_key("admin")
def report_quality():
    return jsonify(quality_report(get_reports_session(), _queue(), _range(),
                                  request.args.get("version") or None))


@bp.get("/reports/cost")
@require_key("admin")
def report_cost():
    session = get_reports_session()
    slug = request.args.get("queue")
    queues = report_queues(session, None, slug)
    return jsonify(cost_report(session, queues, _range()))


@bp.get("/reports/forecast")
@require_key("admin")
def report_forecast():
    raw = request.args.get("hours", "24")
    # isascii: "²".isdigit() holds but int() refuses it; the length keeps int() cheap.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 3) or not 1 <= int(raw) <= 168:
        raise ApiError(400, "bad_hours", "hours must be an integer in [1, 168].")
    return jsonify(queue_forecast(get_reports_session(), _queue(), utcnow(),
                                  horizon=int(raw)))


@bp.get("/reports/overflow")
@require_key("admin")
def report_overflow():
    session = get_reports_session()
    slug = request.args.get("queue")
    queues = report_queues(session, None, slug)
    span = _range()
    return jsonify({"range": span.to_dict(),
                    **overflow_report(session, queues, span.start, span.end)})


_RANGE = [query_param("from", {"type": "string", "format": "date"}, "First day (UTC), "
                      "default six days before `to`."),
          query_param("to", {"type": "string", "format": "date"}, "Last day (UTC), "
                      "inclusive; default today.")]
_QUEUE = {**query_param("queue", {"type": "string"}, "The queue's slug."), "required": True}
_OBJECT = {"type": "object"}
_REPORT_ERRORS = (400, 401, 403, 404, 429)
_NEEDS_QUEUE = {400: "No `queue` (`missing_queue`), or a bad `from`/`to` date or range."}

PATHS.update({
    "/api/v1/reports/dashboard": {"get": operation(
        "Queue health: backlog, SLA exposure, flow per hour, alerts", scope="admin",
        ok={"200": {"description": "Per-queue health", **json_content(_OBJECT)}},
        errs=_REPORT_ERRORS)},
    "/api/v1/reports/sla": {"get": operation(
        "SLA report of a queue: decided, time-to-decision percentiles, breaches",
        scope="admin",
        params=[_QUEUE, *_RANGE,
                query_param("format", {"enum": ["json", "csv"]}),
                query_param("table", {"enum": ["breaches", "days"]}, "CSV only.")],
        ok={"200": {"description": "The report", **json_content(_OBJECT),
                    }},
        errs=_REPORT_ERRORS, described=_NEEDS_QUEUE)},
    "/api/v1/reports/reviewers": {"get": operation(
        "Verdicts per reviewer per day, median handling time, current claims",
        scope="admin", params=[query_param("queue", {"type": "string"}, "Default: all."),
                               *_RANGE],
        ok={"200": {"description": "The report", **json_content(_OBJECT)}},
        errs=_REPORT_ERRORS)},
    "/api/v1/reports/quality": {"get": operation(
        "Calibration, check agreement and rejection reasons per model/prompt version",
        scope="admin",
        params=[_QUEUE, *_RANGE, query_param("version", {"type": "string"},
                                             "model|version|prompt key of one row.")],
        ok={"200": {"description": "The report", **json_content(_OBJECT)}},
        errs=_REPORT_ERRORS, described=_NEEDS_QUEUE)},
})
PATHS["/api/v1/reports/cost"] = {"get": operation(
    "Cost per day, queue, model version and route (model usage, checker usage, review "
    "time at the queue's hourly rate), totals and cost per correct decision",
    scope="admin", params=[query_param("queue", {"type": "string"}, "Default: all."), *_RANGE],
    ok={"200": {"description": "The report", **json_content(_OBJECT)}},
    errs=_REPORT_ERRORS)}
PATHS["/api/v1/reports/forecast"] = {"get": operation(
    "Backlog forecast for the next hours (Holt-Winters on inflow and throughput per hour "
    "of day) and the reviewers needed to meet the SLA (Erlang C, assumptions listed)",
    scope="admin", params=[_QUEUE, query_param("hours", {"type": "integer", "minimum": 1,
                                                         "maximum": 168}, "Default 24.")],
    ok={"200": {"description": "The forecast", **json_content(_OBJECT)}},
    errs=_REPORT_ERRORS, described={400: "No `queue` (`missing_queue`) or bad `hours`."})}
PATHS["/api/v1/reports/overflow"] = {"get": operation(
    "What overflow policies shed, per queue and day (refused at the door, decided by the "
    "fallback), and the fallbacks sampled for a human to look at later",
    scope="admin", params=[query_param("queue", {"type": "string"}, "Default: all."), *_RANGE],
    ok={"200": {"description": "The report", **json_content(_OBJECT)}},
    errs=_REPORT_ERRORS)}
PATHS["/api/v1/reports/sla"]["get"]["responses"]["200"]["content"]["text/csv"] = {
    "schema": {"type": "string"}}
