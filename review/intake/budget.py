"""The daily checker budget of a queue (`checker_daily_budget`, in the currency of the
usage costs): the checker's recorded spend since midnight UTC.

At ingest, an item the router sends to the check goes to a human instead once the day's
spend has reached the budget, with the reason "checker budget exhausted" in its route
and its `routed` event. The switch lifts by itself at midnight UTC, or at once when a
supervisor raises the budget (the next item compares against the new figure). The
alert evaluator warns at 80 % of it (review/alerts/overload.py). Checks
already queued when the budget runs out still run: the overshoot is bounded by the
items in `checking` at that moment.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from review.core.models import Queue
from review.reports.overload import checker_spend_today

EXHAUSTED_REASON = "checker budget exhausted"


def budget_reason(spent: float, budget: float) -> str:
    return f"{EXHAUSTED_REASON}: spent {spent:g} of the daily {budget:g}; to a human"


def exhausted(session: Session, queue: Queue, now: datetime,
              memo: dict[int, float] | None = None) -> str | None:
    """The reason the checker is skipped for `queue` now, or None while budget is left.
    `memo` keeps one request's spend per queue (one query per request, not per item)."""
    budget = queue.checker_daily_budget
    if budget is None:
        return None
    memo = {} if memo is None else memo
    if queue.id not in memo:
        memo[queue.id] = checker_spend_today(session, queue.id, now)
    spent = memo[queue.id]
    return budget_reason(spent, budget) if spent >= budget else None
