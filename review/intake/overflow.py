"""The overflow policy at ingest: what happens to a new item when its queue is full.

A queue is overloaded when its backlog is at `backlog_cap` or its projected wait is over
its SLA (review/reports/overload.py). Then a new item that would need work (routed to the
check or to a human) is, by the queue's `overflow`:

- `accept`: stored and routed as usual; only the alert fires;
- `reject`: refused with 429 `queue_overloaded` and Retry-After; nothing is stored but
  one `overflow_sheds` row per request (queue, count, external ids) as its audit trail;
- `fallback`: stored already decided with the queue's `fallback_outcome` and
  `fallback_reason`, its route saying what it would have been; `fallback_audit_rate`
  of them are marked `audit_sampled` for a human to look at later.

Never shed: items the router decides by itself (they add no backlog), validation
failures, and items at or above `overflow_priority_floor`. Items admitted during a
request count towards the backlog at once, so a batch fills the queue to its cap and
sheds only the rest. The first overloaded request opens the queue's `overflow` alert
(at most one attempt per queue every ALERT_ATTEMPT_SECONDS in a process); the evaluator
keeps it current and resolves it.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from review.alerts.episodes import insert_episode, notify
from review.alerts.overload import acts_on_overflow, overflow_condition
from review.core.errors import RateLimited
from review.core.models import Item, OverflowShed, Queue
from review.intake.routing import audit_sampled
from review.reports.dashboard import alert_to_dict
from review.reports.overload import BacklogState, backlog_state

ALERT_ATTEMPT_SECONDS = 30.0
MAX_EXTERNAL_IDS = 100
_alert_attempts: dict[str, float] = {}


@dataclass
class Shedding:
    """One ingest request's view of its queues' backlogs and what it shed."""

    now: datetime
    states: dict[int, BacklogState] = field(default_factory=dict)
    rejected: dict[int, list[str | None]] = field(default_factory=dict)
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    overloaded: dict[int, Queue] = field(default_factory=dict)

    def state(self, session: Session, queue: Queue) -> BacklogState:
        if queue.id not in self.states:
            self.states[queue.id] = backlog_state(session, queue, self.now)
        return self.states[queue.id]

    def judge(self, session: Session, item: Item, queue: Queue) -> str | None:
        """None to keep `item` (counted in the backlog if it adds to it), or the action:
        "reject" or "fallback" (already applied to the item)."""
        if item.route_path == "auto":
            return None
        state = self.state(session, queue)
        if state.overloaded:
            self.overloaded[queue.id] = queue
        if not state.overloaded or _protected(item, queue):
            state.pending += 1
            if state.overloaded:
                self.counts[(queue.slug, "accepted")] += 1
            return None
        if queue.overflow == "reject":
            self.counts[(queue.slug, "rejected")] += 1
            self.rejected.setdefault(queue.id, []).append(item.external_id)
            return "reject"
        if queue.overflow == "fallback":
            self.counts[(queue.slug, "fallback")] += 1
            apply_fallback(item, queue, state)
            return "fallback"
        state.pending += 1
        self.counts[(queue.slug, "accepted")] += 1
        return None

    def refusal(self, queue: Queue) -> RateLimited:
        state = self.states[queue.id]
        exc = RateLimited("queue_overloaded",
                          f"Queue {queue.slug} is overloaded ({state.why()}); nothing was "
                          f"stored. Retry in {state.retry_after()} s.", state.retry_after())
        exc.details = state.to_dict()
        return exc

    def record(self, session: Session, submitter: str) -> None:
        """Add the audit rows of refused items and open alerts of overloaded queues;
        no commit (they land with the request's transaction)."""
        for queue_id, external_ids in self.rejected.items():
            state = self.states[queue_id]
            session.add(OverflowShed(
                queue_id=queue_id, at=self.now, submitter=submitter[:80],
                items=len(external_ids), reason=state.why(),
                external_ids=[e for e in external_ids if e is not None][:MAX_EXTERNAL_IDS]))
        for queue in self.overloaded.values():
            if acts_on_overflow(queue):
                _open_alert(session, queue, self.states[queue.id], self.now)


def _protected(item: Item, queue: Queue) -> bool:
    if any(str(r).startswith("validation:") for r in item.route_reasons or []):
        return True
    floor = queue.overflow_priority_floor
    return floor is not None and item.priority >= floor


def apply_fallback(item: Item, queue: Queue, state: BacklogState) -> None:
    """Decide a new, not yet flushed item with the queue's declared safe outcome."""
    would = f"would have routed {item.route_path}"
    if item.route_reasons:
        would += f": {item.route_reasons[0]}"
    outcome = queue.fallback_outcome
    item.route_path = "auto"
    item.route_reasons = [f"overflow fallback {outcome}: {state.why()} ({would})"]
    item.audit_sampled = audit_sampled(f"overflow:{item.id}", queue.fallback_audit_rate)
    item.shadow_route = None  # nobody reviewed it: no evidence about the router either
    item.status = "approved" if outcome == "approve" else "rejected"
    item.decision_outcome = outcome
    item.decision_output = item.output if outcome == "approve" else None
    item.decision_reason = queue.fallback_reason
    item.decided_by = "overflow"
    item.decided_by_kind = "router"
    item.decided_at = item.created_at
    item.due_at = None
    item.check_enqueued_at = None


def _open_alert(session: Session, queue: Queue, state: BacklogState, now: datetime) -> None:
    """Open the queue's overflow episode at once (the evaluator would take up to a
    minute); an open one makes this a no-op. Rate-limited per process: under a surge
    only the first requests try."""
    key = f"overflow:{queue.slug}"
    clock = time.monotonic()
    if clock - _alert_attempts.get(key, -ALERT_ATTEMPT_SECONDS) < ALERT_ATTEMPT_SECONDS:
        return
    _alert_attempts[key] = clock
    condition = overflow_condition(state, queue)
    alert = insert_episode(session, kind=condition.kind, key=condition.key,
                           message=condition.message, data=condition.data, now=now,
                           queue_id=queue.id)
    if alert is not None:
        notify(session, alert, event_id=f"evt_alert_{alert.id}", body=alert_to_dict(alert))


def forget_alert_attempts() -> None:
    """Tests: let the next overloaded request try to open the alert again."""
    _alert_attempts.clear()
