"""Rollout stages of a queue: shadow, then 5%, 10%, 25%, 50%, 100% of traffic live.

In shadow the router routes as if live but sends every item to humans and records
what it would have done (`Item.shadow_route`); at a partial stage, items outside the
live share (a stable hash of the item id, nested across stages) go to humans the
same way. A queue that turns on `max_error_rate` starts in shadow. The learner
advances an adaptive queue one stage at a time, only when the stage has held for
`rollout_hold_seconds`, the breaker is closed and at least one version has earned a
threshold; supervisors may set any stage (API, web, CLI). Each change is audited.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from review.adaptive.thresholds import ROLLOUT_STAGES
from review.core.clock import utcnow
from review.core.models import LearnedThreshold, PolicyChange, Queue


class StageError(ValueError):
    """An unknown rollout stage."""


def set_stage(session: Session, queue: Queue, stage: str, actor: str, note: str = "") -> bool:
    """A supervisor moves the queue to `stage` and it is committed; False if it was there."""
    changed = _record_stage(session, queue, stage, actor, note, utcnow())
    session.commit()
    return changed


def _record_stage(session: Session, queue: Queue, stage: str, actor: str, note: str,
                  now: datetime) -> bool:
    """Move the queue to `stage` with its policy-history row; no commit."""
    if stage not in ROLLOUT_STAGES:
        raise StageError(f"unknown rollout stage {stage!r}; expected one of "
                         f"{', '.join(ROLLOUT_STAGES)}")
    if stage == queue.rollout_stage:
        return False
    changes: dict[str, object] = {"rollout_stage": [queue.rollout_stage, stage]}
    if note:
        changes["reason"] = note
    session.add(PolicyChange(queue_id=queue.id, changed_by=actor, changed_at=now,
                             changes=changes))
    queue.rollout_stage = stage
    queue.stage_changed_at = now
    return True


def advance_rollout(session: Session, queue: Queue, now: datetime) -> str:
    """One step forward when the evidence holds; returns the (possibly new) stage."""
    hold = queue.rollout_hold_seconds
    stage = queue.rollout_stage
    if hold is None or queue.breaker_open or stage == ROLLOUT_STAGES[-1]:
        return stage
    if queue.stage_changed_at and now - queue.stage_changed_at < timedelta(seconds=hold):
        return stage
    earned = session.scalar(select(LearnedThreshold.id).where(
        LearnedThreshold.queue_id == queue.id, LearnedThreshold.threshold.is_not(None))
        .limit(1))
    if earned is None:
        return stage
    following = ROLLOUT_STAGES[ROLLOUT_STAGES.index(stage) + 1]
    _record_stage(session, queue, following, "learner",
                  f"held {stage} for {hold} s with a learned threshold and the breaker closed",
                  now)
    return following
