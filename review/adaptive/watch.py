"""Acting on a silent model update: each version's shift detector, fed at ingest.

The router calls `watch_item` for every item it routes. The item's version row
(`LearnedThreshold`, keyed by model name, model version and prompt version) carries the
detector state (review/adaptive/shift.py); when the detector alarms, in the same
transaction as the item:

- the version's evidence restarts (`evidence_since` = now): its learned threshold no
  longer counts (a threshold is valid only when `threshold_since == evidence_since`), so
  from this item on everything goes to humans with the reason "shift detected", until
  post-shift evidence earns a threshold under the bound again (review/adaptive/learning.py);
- its audit rate is raised to SHIFT_AUDIT_RATE while the shift is active;
- a fixed-threshold queue holds the version for humans (`on_shift = "hold"`, the default)
  or only alerts and audits more (`on_shift = "alert"`);
- the change is a PolicyChange by "shift-detector" and opens a `confidence_shift` alert
  on the next learner pass (review/adaptive/drift.py).

Concurrency: the row is read FOR UPDATE SKIP LOCKED (PostgreSQL; SQLite serialises
writers anyway). An ingest that finds the row locked by another transaction routes on the
committed state without feeding the detector, so ingests never wait on each other or on
the learner here and cannot deadlock on version rows; the cost is that under heavy
concurrent ingest of one version some items are not observed (detection then counts in
observed items). Rows are created by the learner for every version it sees ingested, so
a brand-new version is watched from the learner's next pass on.
"""

from __future__ import annotations

import copy
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from review.adaptive.evidence import Version
from review.adaptive.shift import ShiftSettings, new_state, observe
from review.core.models import LearnedThreshold, PolicyChange, Queue
from review.core.settings import settings

_LOCKED = "review.adaptive.watch.locked"


def shift_settings() -> ShiftSettings:
    config = settings()
    return ShiftSettings(reference=int(config.SHIFT_REFERENCE),
                         mean_shift=float(config.SHIFT_MEAN_CHANGE),
                         arl=float(config.SHIFT_ARL))


def _row_query(queue: Queue, version: Version):  # noqa: ANN202 - a Select of one row
    return select(LearnedThreshold).where(
        LearnedThreshold.queue_id == queue.id, LearnedThreshold.model_name == version[0],
        LearnedThreshold.model_version == version[1],
        LearnedThreshold.prompt_version == version[2])


def version_row(session: Session, queue: Queue, version: Version) -> LearnedThreshold | None:
    return session.scalar(_row_query(queue, version))


def watch_item(session: Session, queue: Queue, version: Version, confidence: float,
               output_length: int, now: datetime) -> LearnedThreshold | None:
    """Feed the version's detector with one item; returns the row the router reads."""
    # Rows this transaction already holds (the lock ends with the transaction).
    transaction = session.get_transaction()
    held = session.info.get(_LOCKED)
    if held is None or held[0] is not transaction:
        held = session.info[_LOCKED] = (transaction, set())
    locked: set[int] = held[1]
    row = version_row(session, queue, version)
    if row is None:
        return None
    if row.id not in locked:
        row = session.scalar(_row_query(queue, version)
                             .with_for_update(skip_locked=True)
                             .execution_options(populate_existing=True))
        if row is None:  # another transaction holds it: route on what is committed
            return version_row(session, queue, version)
        locked.add(row.id)
    state = copy.deepcopy(row.shift_state) if row.shift_state else new_state()
    reason = observe(state, confidence, output_length, shift_settings())
    if reason is not None:
        record_shift(session, queue, row, reason, now)
        state = new_state()
    row.shift_state = state  # a new object, so the JSON column is written
    return row


def record_shift(session: Session, queue: Queue, row: LearnedThreshold, reason: str,
                 now: datetime) -> None:
    """Withdraw the version's threshold and restart its evidence; audited."""
    session.add(PolicyChange(queue_id=queue.id, changed_by="shift-detector", changed_at=now,
                             changes={"learned_threshold": [row.threshold, None],
                                      "model_name": row.model_name,
                                      "model_version": row.model_version,
                                      "prompt_version": row.prompt_version,
                                      "reason": f"shift detected: {reason}"}))
    row.shift_detected_at = now
    row.shift_reason = reason
    row.evidence_since = now


def shift_active(row: LearnedThreshold | None) -> bool:
    return row is not None and row.shift_detected_at is not None


def valid_threshold(row: LearnedThreshold | None) -> float | None:
    """The version's threshold if it was learned from the current evidence (post-shift)."""
    if row is None or row.threshold is None or row.threshold_since != row.evidence_since:
        return None
    return row.threshold


def clear_shift(session: Session, queue: Queue, row: LearnedThreshold, why: str,
                now: datetime) -> None:
    """End the shift's hold and raised audits; audited."""
    session.add(PolicyChange(queue_id=queue.id, changed_by="learner", changed_at=now,
                             changes={"shift_cleared": row.shift_reason,
                                      "model_name": row.model_name,
                                      "model_version": row.model_version,
                                      "prompt_version": row.prompt_version, "reason": why}))
    row.shift_detected_at = None
