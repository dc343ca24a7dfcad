"""The quality report: is the model's confidence worth trusting, and the check?

For a queue and a date range, per model name, model version and prompt
version (a new version is its own row from its first item):

- the items created in the range and how they were routed;
- the human decisions made in the range (any decision not by the router or
  the checker): approved unchanged (`approve`), edited, rejected;
- calibration: per stated-confidence bucket, how often a human approved the
  output unchanged (an `edit` or `reject` is not an approval);
- agreement of the secondary check with humans on items that reached both:
  a `pass` agrees with `approve`, a `fail` with `edit` or `reject`; `unsure`
  and other verdicts are counted but not scored;
- rejection reasons ranked by how often humans gave them.

Built from the daily rollups (review/reports/rollups.py) of kinds `created` and `human`.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from review.core.clock import isoformat
from review.core.models import Queue
from review.reports.rollups import BUCKET_EDGES, confidence_bucket, grouped
from review.reports.sla_report import DateRange

__all__ = ["confidence_bucket", "quality_report", "version_key"]

NO_REASON = "(no reason given)"


def version_key(model_name: str | None, model_version: str | None,
                prompt_version: str | None) -> str:
    """A stable text key for one (model, version, prompt) row, used in URLs."""
    return "|".join(part or "" for part in (model_name, model_version, prompt_version))


def quality_report(session: Session, queue: Queue, span: DateRange,
                   version: str | None = None) -> dict[str, Any]:
    """The whole report; `version` (a version_key) narrows calibration and reasons."""
    created = grouped(session, "created", [queue.id], span.first, span.last, by_day=False)
    human = grouped(session, "human", [queue.id], span.first, span.last, by_day=False)
    narrowed = [r for r in human if not version or version_key(*r.keys[:3]) == version]
    return {
        "queue": queue.slug, "range": span.to_dict(), "version": version or None,
        "versions": _versions(created, human),
        "calibration": _calibration(narrowed),
        "agreement": _agreement(narrowed),
        "rejection_reasons": _reasons(narrowed),
    }


def _versions(created: list[Any], human: list[Any]) -> list[dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}

    def row(keys: tuple) -> dict[str, Any]:
        key = version_key(*keys[:3])
        return rows.setdefault(key, {
            "key": key, "model_name": keys[0], "model_version": keys[1],
            "prompt_version": keys[2], "items": 0, "first_seen": None, "confidence_sum": 0.0,
            "routed": {"auto": 0, "check": 0, "human": 0}, "human_decided": 0,
            "approved": 0, "edited": 0, "rejected": 0, "human_confidence_sum": 0.0,
            "check_and_human": 0, "check_agreed": 0})

    for r in created:
        v = row(r.keys)
        v["items"] += r.n
        v["confidence_sum"] += r.total
        v["routed"][r.keys[3]] = v["routed"].get(r.keys[3], 0) + r.n
        if r.first_at is not None and (v["first_seen"] is None or r.first_at < v["first_seen"]):
            v["first_seen"] = r.first_at
    for r in human:
        _bucket, outcome, verdict, _reason = r.keys[3:]
        v = row(r.keys)
        v["human_decided"] += r.n
        v[{"approve": "approved", "edit": "edited", "reject": "rejected"}.get(
            outcome, "rejected")] += r.n
        if verdict in ("pass", "fail"):
            v["check_and_human"] += r.n
            if (verdict == "pass") == (outcome == "approve"):
                v["check_agreed"] += r.n
    result = []
    for v in rows.values():
        v["mean_confidence"] = v.pop("confidence_sum") / v["items"] if v["items"] else None
        v.pop("human_confidence_sum")
        decided, both = v["human_decided"], v["check_and_human"]
        v["approval_rate"] = v["approved"] / decided if decided else None
        v["check_agreement"] = v.pop("check_agreed") / both if both else None
        result.append(v)
    # Newest first: a version that just started is at the top from its first item.
    result.sort(key=lambda v: (v["first_seen"] or datetime.min, v["key"]), reverse=True)
    for v in result:
        v["first_seen"] = isoformat(v["first_seen"])
    return result


def _calibration(human: list[Any]) -> list[dict[str, Any]]:
    counts: Counter[int] = Counter()
    approved: Counter[int] = Counter()
    confidence: Counter[int] = Counter()
    for r in human:
        bucket = int(r.keys[3])
        counts[bucket] += r.n
        confidence[bucket] += r.total
        if r.keys[4] == "approve":
            approved[bucket] += r.n
    table = []
    for k in range(len(BUCKET_EDGES) + 1):
        n = counts[k]
        table.append({"bucket": k, "low": round(k / 10, 1), "high": round((k + 1) / 10, 1),
                      "human_decided": n, "approved": approved[k],
                      "approval_rate": approved[k] / n if n else None,
                      "mean_confidence": confidence[k] / n if n else None})
    return table


def _agreement(human: list[Any]) -> dict[str, Any]:
    matrix: dict[str, dict[str, int]] = {}
    scored = agreed = 0
    for r in human:
        outcome, verdict = r.keys[4], r.keys[5]
        if verdict is None:
            continue
        cell = matrix.setdefault(verdict, {})
        cell[outcome] = cell.get(outcome, 0) + r.n
        if verdict in ("pass", "fail"):
            scored += r.n
            if (verdict == "pass") == (outcome == "approve"):
                agreed += r.n
    return {"matrix": matrix, "scored": scored, "agreed": agreed,
            "rate": agreed / scored if scored else None,
            "reached_both": sum(sum(v.values()) for v in matrix.values())}


def _reasons(human: list[Any]) -> list[dict[str, Any]]:
    counts: Counter[str] = Counter()
    for r in human:
        if r.keys[4] == "reject":
            counts[r.keys[6] or NO_REASON] += r.n
    total = sum(counts.values())
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [{"reason": reason, "count": n, "share": n / total} for reason, n in ranked]
