"""What decisions cost: the upstream model's usage, the checker's and the reviewers' time.

Three sources, all recorded per item:

- model: the `usage` upstream sent with the item (tokens and cost);
- check: the usage the checker reported for its call (an LLM judge's), stored with the
  verdict;
- human: active review time, claim to verdict (`reviews.claimed_at` to `created_at`), at
  the queue's `human_hourly_rate` (its current rate; 0 when none is set).

Rows are per UTC day of the item's creation, queue, model version and route (auto, check,
human), so every cost lands on the day the item came in however late it was decided.

"Cost per correct decision" divides the total by the decisions estimated correct: human
decisions count as correct (they are the reference), machine decisions (router and
checker) are discounted by the queue's error rate measured on audit samples over the same
range (audit-sampled items whose reviewer did not approve), and overflow fallbacks are
safe defaults, not judgements, so they count as none.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from review.core.models import Item, Queue, Review
from review.core.sql_time import as_datetime, seconds_between
from review.reports.sla_report import DateRange

SOURCES = ("model", "check", "human")


def _day(value: Any) -> date:
    return value if isinstance(value, date) and not isinstance(value, datetime) \
        else as_datetime(value).date()


def _num(value: Any) -> float:
    return float(value or 0)


def _error_rates(session: Session, ids: list[int], start: datetime, end: datetime
                 ) -> dict[int, dict[str, Any]]:
    rows = session.execute(
        select(Item.queue_id, func.count(),
               func.sum(case((Item.decision_outcome != "approve", 1), else_=0)))
        .where(Item.queue_id.in_(ids), Item.created_at >= start, Item.created_at < end,
               Item.audit_sampled.is_(True), Item.decided_by_kind == "reviewer")
        .group_by(Item.queue_id)).all()
    found = {qid: {"audited": n, "wrong": int(w or 0), "rate": int(w or 0) / n if n else 0.0}
             for qid, n, w in rows}
    return {qid: found.get(qid, {"audited": 0, "wrong": 0, "rate": 0.0}) for qid in ids}


def cost_rows(session: Session, queues: list[Queue], start: datetime, end: datetime
              ) -> list[dict[str, Any]]:
    """One row per (day, queue, model version, route) of items created in [start, end)."""
    by_id = {q.id: q for q in queues}
    if not by_id:
        return []
    day = func.date(Item.created_at)
    keys = (day, Item.queue_id, Item.model_name, Item.model_version, Item.route_path)
    overflow = func.coalesce(Item.decided_by, "") == "overflow"
    machine = and_(Item.decided_by_kind.in_(("router", "checker")),
                   func.coalesce(Item.decided_by, "") != "overflow")
    window = (Item.queue_id.in_(list(by_id)), Item.created_at >= start, Item.created_at < end)
    rows: dict[tuple, dict[str, Any]] = {}
    for (d, qid, name, version, route, items, tin, tout, cost, cin, cout, ccost, human_n,
         machine_n, shed) in session.execute(
            select(*keys, func.count(), func.sum(Item.usage_input_tokens),
                   func.sum(Item.usage_output_tokens), func.sum(Item.usage_cost),
                   func.sum(Item.check_input_tokens), func.sum(Item.check_output_tokens),
                   func.sum(Item.check_cost),
                   func.sum(case((Item.decided_by_kind == "reviewer", 1), else_=0)),
                   func.sum(case((machine, 1), else_=0)), func.sum(case((overflow, 1), else_=0)))
            .where(*window).group_by(*keys)):
        rows[(_day(d), qid, name, version, route)] = {
            "items": items, "human_decisions": int(human_n or 0),
            "machine_decisions": int(machine_n or 0), "overflow_fallbacks": int(shed or 0),
            "tokens": {"model_input": int(tin or 0), "model_output": int(tout or 0),
                       "check_input": int(cin or 0), "check_output": int(cout or 0)},
            "cost": {"model": _num(cost), "check": _num(ccost), "human": 0.0},
            "review_seconds": 0.0}
    spent = seconds_between(session, Review.claimed_at, Review.created_at)
    for d, qid, name, version, route, seconds in session.execute(
            select(*keys, func.sum(spent)).join(Review, Review.item_id == Item.id)
            .where(*window, Review.claimed_at.is_not(None)).group_by(*keys)):
        row = rows.get((_day(d), qid, name, version, route))
        if row is not None:
            row["review_seconds"] = max(0.0, _num(seconds))
            row["cost"]["human"] = row["review_seconds"] / 3600 * _num(
                by_id[qid].human_hourly_rate)
    errors = _error_rates(session, list(by_id), start, end)
    out = []
    for (d, qid, name, version, route), row in sorted(
            rows.items(), key=lambda kv: (kv[0][0], by_id[kv[0][1]].slug,
                                          kv[0][2] or "", kv[0][3] or "", kv[0][4])):
        out.append({"day": d.isoformat(), "queue": by_id[qid].slug,
                    "model": {"name": name, "version": version}, "route": route,
                    **_finish(row, errors[qid]["rate"])})
    return out


def _finish(row: dict[str, Any], error_rate: float) -> dict[str, Any]:
    row["cost"]["total"] = sum(row["cost"][s] for s in SOURCES)
    row["correct_decisions"] = row["human_decisions"] + row["machine_decisions"] * (
        1 - error_rate)
    row["cost_per_correct_decision"] = (row["cost"]["total"] / row["correct_decisions"]
                                        if row["correct_decisions"] else None)
    return row


def _add(total: dict[str, Any], row: dict[str, Any]) -> None:
    for field in ("items", "human_decisions", "machine_decisions", "overflow_fallbacks",
                  "review_seconds"):
        total[field] = total.get(field, 0) + row[field]
    for group in ("tokens", "cost"):
        bucket = total.setdefault(group, {})
        for name, value in row[group].items():
            if name != "total":
                bucket[name] = bucket.get(name, 0) + value


def cost_report(session: Session, queues: list[Queue], span: DateRange) -> dict[str, Any]:
    """Cost per day, queue, model version and route; totals per queue and overall."""
    rows = cost_rows(session, queues, span.start, span.end)
    errors = _error_rates(session, [q.id for q in queues], span.start, span.end)
    per_queue: dict[str, dict[str, Any]] = defaultdict(dict)
    overall: dict[str, Any] = {}
    for row in rows:
        _add(per_queue[row["queue"]], row)
        _add(overall, row)
    rates = {q.slug: errors[q.id] for q in queues}
    totals = {}
    for q in queues:
        total = per_queue.get(q.slug)
        if total:
            totals[q.slug] = {**_finish(total, rates[q.slug]["rate"]),
                              "human_hourly_rate": q.human_hourly_rate,
                              "machine_error_rate": rates[q.slug]}
    if overall:
        machine = overall["machine_decisions"]
        wrong = sum(rates[s]["rate"] * per_queue[s]["machine_decisions"] for s in per_queue)
        _finish(overall, wrong / machine if machine else 0.0)
    return {"range": span.to_dict(), "rows": rows, "queues": totals,
            "total": overall or None}


def cost_totals(session: Session, since: datetime, until: datetime
                ) -> dict[str, dict[str, float]]:
    """Per queue slug: model, check and human cost and tokens of items created in the
    window (the /metrics gauges)."""
    queues = list(session.scalars(select(Queue)))
    totals: dict[str, dict[str, float]] = {}
    for row in cost_rows(session, queues, since, until):
        bucket = totals.setdefault(row["queue"], defaultdict(float))
        for source in SOURCES:
            bucket[f"cost_{source}"] += row["cost"][source]
        for name, value in row["tokens"].items():
            bucket[f"tokens_{name}"] += value
    return totals
