"""Rollout stages of a queue: shadow, then 5%, 10%, 25%, 50%, 100% of traffic live.

In shadow the router routes as if live but sends every item to humans and records
what it would have done (`Item.shadow_route`); at a partial stage, items outside the
live share (a stable hash of the item id, nested across stages) go to humans the
same way. A queue that turns on `max_error_rate` starts in shadow. The learner
advances an adaptive queue one stage at a time, only when the stage has held for
`rollout_hold_seconds` (counted from the first learned threshold at the earliest), the
breaker is closed, a version has earned a threshold and the evidence gathered at this
stage bounds the error rate under the target; a breaker trip sends the queue back to
shadow. Supervisors may set any stage (API, web, CLI). Each change is audited.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from review.adaptive.evidence import automation_samples
from review.adaptive.thresholds import ROLLOUT_STAGES
from review.adaptive.watch import valid_threshold
from review.core.clock import utcnow
from review.core.models import LearnedThreshold, PolicyChange, Queue

STAGE_MIN_SAMPLES = 50


class StageError(ValueError):
    """An unknown rollout stage."""


def set_stage(session: Session, queue: Queue, stage: str, actor: str, note: str = "") -> bool:
    """A supervisor moves the queue to `stage` and it is committed; False if it was there."""
    changed = record_stage(session, queue, stage, actor, note, utcnow())
    session.commit()
    return changed


def record_stage(session: Session, queue: Queue, stage: str, actor: str, note: str,
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
    """One step forward when the evidence holds; returns the (possibly new) stage.

    The hold counts from the later of the stage change and the moment a version first
    earned its current threshold (so shadow -> 5% never happens in the pass that first
    learns one), and the stage advances only on evidence gathered at that stage: the
    audited automatic decisions and would-be auto-approvals decided since the stage (or
    the breaker) last changed must number at least STAGE_MIN_SAMPLES and show an error
    rate within the target. (The learned threshold's bound carries the statistical
    guarantee; this is the stage's own sanity check, and the breaker watches it too.)
    """
    hold = queue.rollout_hold_seconds
    stage = queue.rollout_stage
    if hold is None or queue.breaker_open or stage == ROLLOUT_STAGES[-1]:
        return stage
    rows = session.scalars(select(LearnedThreshold).where(
        LearnedThreshold.queue_id == queue.id, LearnedThreshold.threshold.is_not(None)))
    earned = [r.earned_at for r in rows if valid_threshold(r) is not None and r.earned_at]
    if not earned:
        return stage
    started = max(min(earned), queue.stage_changed_at or min(earned))
    if now - started < timedelta(seconds=hold):
        return stage
    since = max((t for t in (queue.stage_changed_at, queue.breaker_changed_at)
                 if t is not None), default=None)
    samples = automation_samples(session, queue, since, 1000)
    errors = sum(samples)
    if len(samples) < STAGE_MIN_SAMPLES or errors > queue.max_error_rate * len(samples):
        return stage
    following = ROLLOUT_STAGES[ROLLOUT_STAGES.index(stage) + 1]
    record_stage(session, queue, following, "learner",
                 f"held {stage} for {hold} s with a learned threshold and the breaker closed; "
                 f"{errors} errors in {len(samples)} audited automatic decisions at this "
                 f"stage (<= {queue.max_error_rate:g})", now)
    return following
