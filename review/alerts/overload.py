"""Overload and budget alerts, evaluated with the others (rules.py):

- `overflow`: (queues that shed or have overflow reviewers) a queue's backlog is at its
  `backlog_cap` or its projected wait over the SLA (review/reports/overload.py); the
  text says what the queue's overflow policy does and which overflow reviewers were
  brought in. Ingest opens it at once on the first overloaded request
  (review/intake/overflow.py); the evaluator keeps it current and resolves it;
- `checker_budget`: a queue's checker spend today has reached BUDGET_ALERT_SHARE of its
  `checker_daily_budget` (at 100 % the checker is skipped: review/intake/budget.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from review.alerts.episodes import Condition
from review.core.models import Queue
from review.reports.overload import BacklogState, backlog_state, checker_spend_today

KINDS = ("overflow", "checker_budget")
BUDGET_ALERT_SHARE = 0.8


def overflow_message(state: BacklogState, queue: Queue) -> str:
    """The `overflow` alert's text: what the queue does and who was brought in."""
    brought = ", ".join(queue.overflow_reviewers or []) or "nobody (no overflow_reviewers)"
    return (f"Queue {queue.slug} is overloaded ({state.why()}); overflow policy "
            f"{queue.overflow}; overflow reviewers brought in: {brought}.")


def overflow_data(state: BacklogState, queue: Queue) -> dict[str, Any]:
    return {**state.to_dict(), "policy": queue.overflow,
            "brought_in": list(queue.overflow_reviewers or [])}


def acts_on_overflow(queue: Queue) -> bool:
    """Whether overload changes anything for the queue beyond the backlog_cap and
    clear_time alerts: a policy that sheds, or overflow reviewers to bring in."""
    return queue.overflow != "accept" or bool(queue.overflow_reviewers)


def overflow_condition(state: BacklogState, queue: Queue) -> Condition:
    return Condition("overflow", f"overflow:{queue.slug}", overflow_message(state, queue),
                     queue_id=queue.id, data=overflow_data(state, queue))


def overload_conditions(session: Session, queues: list[Queue], now: datetime
                        ) -> list[Condition]:
    found = []
    for queue in queues:
        state = backlog_state(session, queue, now)
        if state.overloaded and acts_on_overflow(queue):
            found.append(overflow_condition(state, queue))
        budget = queue.checker_daily_budget
        if budget is None:
            continue
        spent = checker_spend_today(session, queue.id, now)
        if spent >= BUDGET_ALERT_SHARE * budget:
            share = spent / budget if budget else 1.0
            effect = ("exhausted: the checker is skipped and items go to humans until "
                      "midnight UTC or a higher budget" if spent >= budget
                      else "at 100 % the checker is skipped and items go to humans")
            found.append(Condition(
                "checker_budget", f"checker_budget:{queue.slug}", queue_id=queue.id,
                message=(f"Queue {queue.slug}: checker spend today {spent:g} is "
                         f"{share:.0%} of its daily budget {budget:g}; {effect}."),
                data={"queue": queue.slug, "spent": spent, "budget": budget,
                      "share": share, "exhausted": spent >= budget}))
    return found
