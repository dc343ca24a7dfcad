"""Adaptive routing: thresholds learned from human evidence, per model and prompt version.

A queue with `max_error_rate` does not trust a hand-set `auto_approve_at`. Every
LEARN_INTERVAL the learner (workers/learning.py) takes, for each model and prompt
version seen in the queue, the most recent human decisions on that version's items
and picks the lowest threshold whose exact upper bound on the error rate (a
Clopper-Pearson bound, `review.adaptive.thresholds.choose_threshold`) stays under the target.
What counts as evidence is defined in review/adaptive/evidence.py.

The router reads the stored threshold of the item's own version; a version with no
row, or a row without a threshold, auto-approves nothing and is routed as in shadow
mode, so a model update cannot ride on its predecessor's record. Every change of a
threshold is a PolicyChange by "learner" (the queue's audit trail).

The breaker (review/adaptive/breaker.py), the rollout stage (review/adaptive/rollout.py) and the
confidence-shift alert (review/adaptive/drift.py) are refreshed in the same pass.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from review.adaptive.breaker import update_breaker
from review.adaptive.drift import update_shift_alerts
from review.adaptive.evidence import Version, version_evidence, version_key
from review.adaptive.rollout import advance_rollout
from review.adaptive.shift import ready
from review.adaptive.thresholds import checker_scope, choose_threshold
from review.adaptive.watch import clear_shift, shift_active, valid_threshold, version_row
from review.core.clock import isoformat, utcnow
from review.core.models import Item, LearnedThreshold, PolicyChange, Queue
from review.core.settings import settings

log = logging.getLogger(__name__)

# How far back a queue's first refresh looks for versions; later refreshes look
# back from the previous one (with a margin for transactions that commit late).
DISCOVERY_HORIZON = timedelta(days=30)
DISCOVERY_MARGIN = timedelta(minutes=10)


def learned_threshold(session: Session, queue: Queue, model_version: str | None,
                      prompt_version: str | None, model_name: str | None = None,
                      ) -> LearnedThreshold | None:
    return version_row(session, queue, version_key(model_name, model_version, prompt_version))


def checked_region(queue: Queue) -> dict[str, Any]:
    """How the queue's checker widens or narrows the automatic region (choose_threshold):
    check passes between review_below and the threshold are automatic approvals too, and
    with scope "all" items the check failed are not."""
    if not queue.checker:
        return {}
    return {"check_band_from": queue.review_below,
            "gate_above": checker_scope(queue.checker) == "all"}


def _versions_to_refresh(session: Session, queue: Queue, now: datetime
                         ) -> dict[Version, LearnedThreshold | None]:
    """Every version with a row, and versions ingested or decided since the last pass
    (None: a row is created, so the shift detector watches it from now on)."""
    rows: dict[Version, LearnedThreshold | None] = {
        (row.model_name, row.model_version, row.prompt_version): row for row in session.scalars(
            select(LearnedThreshold).where(LearnedThreshold.queue_id == queue.id)
            .order_by(LearnedThreshold.id))}
    since = (queue.learned_at - DISCOVERY_MARGIN) if queue.learned_at else now - DISCOVERY_HORIZON
    columns = (Item.model_name, Item.model_version, Item.prompt_version)
    fresh = session.execute(select(*columns).distinct().where(
        Item.queue_id == queue.id, Item.decided_by_kind == "reviewer",
        Item.decided_at >= since).union(select(*columns).distinct().where(
            Item.queue_id == queue.id, Item.created_at >= since)))
    for name, mv, pv in fresh:
        rows.setdefault(version_key(name, mv, pv), None)
    return rows


def _row(session: Session, queue: Queue, version: Version,
         row: LearnedThreshold | None) -> LearnedThreshold:
    if row is None:
        row = LearnedThreshold(queue_id=queue.id, model_name=version[0],
                               model_version=version[1], prompt_version=version[2],
                               threshold=None)
        session.add(row)
    return row


def track_versions(session: Session, queue: Queue, now: datetime) -> int:
    """A fixed-threshold queue's pass: rows for new versions (so their shift detectors
    run) and the end of a hold once the detector has a post-shift reference. Returns how
    many versions are tracked."""
    rows = _versions_to_refresh(session, queue, now)
    for version, row in rows.items():
        row = _row(session, queue, version, row)
        if shift_active(row) and ready(row.shift_state):
            clear_shift(session, queue, row, "the detector has a new reference of "
                        "post-shift items, all seen by humans", now)
    queue.learned_at = now
    return len(rows)


def refresh_thresholds(session: Session, queue: Queue, now: datetime | None = None) -> int:
    """Recompute every version's threshold of an adaptive queue; audit each change.
    Returns how many thresholds changed."""
    now = now or utcnow()
    config = settings()
    changed = 0
    # Existing rows in id order, new ones last: the same lock order as ingest's flush.
    for version, row in _versions_to_refresh(session, queue, now).items():
        row = _row(session, queue, version, row)
        evidence = version_evidence(session, queue, version, int(config.LEARN_EVIDENCE_LIMIT),
                                    since=row.evidence_since)
        choice = choose_threshold(evidence, queue.max_error_rate, queue.confidence_level,
                                  min_evidence=int(config.LEARN_MIN_EVIDENCE),
                                  **checked_region(queue))
        old = valid_threshold(row)
        row.threshold = choice.threshold
        row.threshold_since = row.evidence_since
        if choice.threshold is not None:
            row.last_threshold = choice.threshold
            row.earned_at = row.earned_at if old is not None else now
        else:
            row.earned_at = None
        row.evidence_count = choice.evidence_count
        row.errors = choice.errors
        row.upper_bound = choice.upper_bound
        row.reason = choice.reason
        row.updated_at = now
        if shift_active(row) and choice.threshold is not None:
            clear_shift(session, queue, row, "post-shift evidence earned a threshold under "
                        f"the bound ({choice.reason})", now)
        if old != choice.threshold:
            changed += 1
            name, mv, pv = version
            session.add(PolicyChange(queue_id=queue.id, changed_by="learner", changed_at=now,
                                     changes={"learned_threshold": [old, choice.threshold],
                                              "model_name": name,
                                              "model_version": mv, "prompt_version": pv,
                                              "evidence_count": choice.evidence_count,
                                              "errors": choice.errors,
                                              "upper_bound": choice.upper_bound,
                                              "reason": choice.reason}))
            log.info("queue %s version %s/%s/%s: learned threshold %s -> %s (%s)", queue.slug,
                     name or "-", mv or "-", pv or "-", old, choice.threshold, choice.reason)
    queue.learned_at = now
    return changed


def refresh_queue(session: Session, queue: Queue, now: datetime | None = None) -> dict[str, Any]:
    """One learning pass over a queue, committed: thresholds, breaker, rollout, drift."""
    now = now or utcnow()
    summary: dict[str, Any] = {"queue": queue.slug}
    if queue.max_error_rate is not None:
        summary["threshold_changes"] = refresh_thresholds(session, queue, now)
        summary["breaker"] = update_breaker(session, queue, now)
        summary["stage"] = advance_rollout(session, queue, now)
    else:
        summary["versions"] = track_versions(session, queue, now)
    try:
        session.commit()
    except IntegrityError:
        # Another learner inserted the same version row first; its pass stands.
        session.rollback()
        return {"queue": queue.slug, "skipped": "concurrent refresh"}
    summary["shift_alerts"] = update_shift_alerts(session, queue, now)
    return summary


def refresh_all(session: Session, now: datetime | None = None) -> list[dict[str, Any]]:
    """The periodic learning pass over every queue."""
    ids = list(session.scalars(select(Queue.id).order_by(Queue.slug)))
    return [refresh_queue(session, session.get(Queue, queue_id), now) for queue_id in ids]


SUMMARY_FIELDS = ("slug", "name", "auto_approve_at", "review_below", "audit_rate",
                  "sla_seconds", "required_reviews", "max_error_rate", "confidence_level",
                  "breaker_window", "rollout_hold_seconds")


def queue_state(session: Session, queue: Queue) -> dict[str, Any]:
    """The policy summary and the adaptive state (`GET /api/v1/queues/<slug>`,
    `review queues show --json`)."""
    summary: dict[str, Any] = {field: getattr(queue, field) for field in SUMMARY_FIELDS}
    summary["adaptive"] = adaptive_state(session, queue)
    return summary


ROUTING_FIELDS = ("learned_threshold", "rollout_stage", "breaker_open", "max_error_rate")


def routing_history(session: Session, queue: Queue, limit: int = 20) -> list[dict[str, Any]]:
    """The latest audited changes of thresholds, rollout stage and breaker, newest first."""
    rows = session.scalars(select(PolicyChange).where(PolicyChange.queue_id == queue.id)
                           .order_by(PolicyChange.changed_at.desc(), PolicyChange.id.desc())
                           .limit(limit * 5))
    changes = [{"at": isoformat(row.changed_at), "by": row.changed_by, "changes": row.changes}
               for row in rows if set(row.changes or {}) & set(ROUTING_FIELDS)]
    return changes[:limit]


def adaptive_state(session: Session, queue: Queue) -> dict[str, Any]:
    """What the queue page and `GET /api/v1/queues/<slug>` show about adaptive routing."""
    rows = session.scalars(select(LearnedThreshold).where(LearnedThreshold.queue_id == queue.id)
                           .order_by(LearnedThreshold.updated_at.desc(),
                                     LearnedThreshold.model_version))
    return {
        "max_error_rate": queue.max_error_rate,
        "confidence_level": queue.confidence_level,
        "rollout_stage": queue.rollout_stage,
        "stage_changed_at": isoformat(queue.stage_changed_at),
        "breaker": {"open": queue.breaker_open, "reason": queue.breaker_reason,
                    "changed_at": isoformat(queue.breaker_changed_at),
                    "window": queue.breaker_window},
        "learned_at": isoformat(queue.learned_at),
        "versions": [{"model_name": r.model_name or None,
                      "model_version": r.model_version or None,
                      "prompt_version": r.prompt_version or None,
                      "threshold": valid_threshold(r), "evidence_count": r.evidence_count,
                      "shift": ({"detected_at": isoformat(r.shift_detected_at),
                                 "reason": r.shift_reason} if shift_active(r) else None),
                      "errors": r.errors, "upper_bound": r.upper_bound, "reason": r.reason,
                      "updated_at": isoformat(r.updated_at)} for r in rows],
        "history": routing_history(session, queue),
    }
