"""The circuit breaker of an adaptive queue: all items to humans when audits find errors.

Over a sliding window of the latest `breaker_window` human decisions on items that
automation decided or would have decided (review/adaptive/evidence.py: audit samples of
auto-approvals and check passes, and held-back would-be auto-approvals), the breaker
trips when the exact LOWER bound on the error rate exceeds the queue's
`max_error_rate`, over the whole window or its newest 20, 40, 80... samples
(`review.adaptive.thresholds.breaker_scan`): proof the rate really is worse, not one unlucky
error, and seen while the newest samples still show it. A trip sends every item to
humans, opens a `breaker` alert, and is recorded in the queue's audit trail with
its reason.

It closes only by a supervisor's reset (`reset_breaker`: API, web, CLI) or by fresh
evidence: a full recovery window decided after the trip whose UPPER bound is back under
the target. The recovery window is sized from the target (`recovery_window`: at least
`breaker_window`, and large enough that a model at half the target can pass; 389 for 2%
at 95%), since with the default 100 even 0 errors bound a 2% target at 2.95%. A trip sends
the queue back to shadow.
Never silently, never on old evidence: both the trip and the recovery count
only decisions made after the breaker's last change.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from review.adaptive.evidence import automation_samples
from review.adaptive.rollout import record_stage
from review.adaptive.thresholds import breaker_scan, clopper_pearson_upper, recovery_window
from review.alerts.episodes import Condition, open_episode, resolve_episodes
from review.core.clock import utcnow
from review.core.models import PolicyChange, Queue

log = logging.getLogger(__name__)

MIN_TRIP_SAMPLES = 20


def update_breaker(session: Session, queue: Queue, now: datetime) -> dict[str, Any]:
    """Trip or recover the breaker from the evidence; the caller commits. A trip also
    sends the queue back to shadow: after recovery the rollout starts over, each stage
    again earning its own evidence (review/adaptive/rollout.py)."""
    if not queue.breaker_open:
        samples = automation_samples(session, queue, queue.breaker_changed_at,
                                     queue.breaker_window)
        verdict = breaker_scan(samples, queue.max_error_rate, queue.confidence_level,
                               min_samples=MIN_TRIP_SAMPLES)
        if verdict.trip:
            _set(session, queue, True, f"tripped: {verdict.errors} errors in the latest "
                 f"{verdict.n} audited automatic decisions; {verdict.reason}", "breaker", now)
            record_stage(session, queue, "shadow", "breaker", "the circuit breaker tripped",
                         now)
        return {"open": queue.breaker_open, "samples": len(samples), "errors": sum(samples)}
    window = recovery_window(queue.max_error_rate, queue.confidence_level,
                             queue.breaker_window)
    samples = automation_samples(session, queue, queue.breaker_changed_at, window)
    errors = sum(samples)
    upper = clopper_pearson_upper(errors, len(samples), queue.confidence_level)
    if len(samples) >= window and upper <= queue.max_error_rate:
        _set(session, queue, False, f"recovered on fresh evidence: {errors} errors in "
             f"{len(samples)} audited decisions since the trip, upper bound {upper:.4f} "
             f"<= {queue.max_error_rate}", "breaker", now)
    return {"open": queue.breaker_open, "samples": len(samples), "errors": errors}


def reset_breaker(session: Session, queue: Queue, actor: str, note: str = "") -> bool:
    """A supervisor closes the breaker, committed; False if it was not open."""
    if not queue.breaker_open:
        return False
    reason = f"reset by {actor}" + (f": {note}" if note else "")
    _set(session, queue, False, reason, actor, utcnow())
    session.commit()
    return True


def _set(session: Session, queue: Queue, open_: bool, reason: str, actor: str,
         now: datetime) -> None:
    session.add(PolicyChange(queue_id=queue.id, changed_by=actor, changed_at=now,
                             changes={"breaker_open": [queue.breaker_open, open_],
                                      "reason": reason}))
    queue.breaker_open = open_
    queue.breaker_reason = reason
    queue.breaker_changed_at = now
    key = f"breaker:{queue.slug}"
    # Resolve first: an episode left open (by hand, or by an earlier trip) would make the
    # new trip's episode a duplicate, and a duplicate is not notified again.
    resolve_episodes(session, [key], now)
    log.warning("queue %s: circuit breaker %s: %s", queue.slug,
                "open" if open_ else "closed", reason)
    if open_:
        open_episode(session, Condition(
            "breaker", key, queue_id=queue.id,
            message=f"Queue {queue.slug}: circuit breaker open, every item goes to humans "
                    f"({reason}).",
            data={"queue": queue.slug, "reason": reason}), now)
