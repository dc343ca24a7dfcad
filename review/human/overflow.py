"""Overflow reviewers: members named in a queue's `overflow_reviewers` who are brought in
only when the queue needs them.

While the queue is overloaded (backlog at `backlog_cap`, or its projected wait over the
SLA: review/reports/overload.py) they may claim any of its items; otherwise only items
at risk of missing their SLA (or already late). Either way at-risk items are offered to
them first, so the extra hands go where the SLA is at stake. Ordinary members are not
affected. `claim_next` (claims.py) adds these conditions to its candidate filter.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ColumnElement

from review.core.models import Queue, User
from review.core.settings import settings
from review.reports.overload import backlog_state


def is_overflow_reviewer(user: User, queue: Queue) -> bool:
    return user.name in (queue.overflow_reviewers or [])


def at_risk(cand: Any, queue: Queue, now: datetime) -> ColumnElement[bool]:
    """Due within the last (1 - AT_RISK_RATIO) of the queue's SLA, or already late."""
    ratio = float(settings().AT_RISK_RATIO)
    return cand.due_at <= now + timedelta(seconds=(1 - ratio) * queue.sla_seconds)


def overflow_claim_rules(session: Session, cand: Any, user: User, queue: Queue,
                         now: datetime) -> tuple[list[ColumnElement[bool]], list[Any]]:
    """(extra conditions, leading sort keys) of `user`'s claims in `queue` on `cand`
    (Item or an alias); ([], []) for everyone but the queue's overflow reviewers."""
    if not is_overflow_reviewer(user, queue):
        return [], []
    risky = at_risk(cand, queue, now)
    first = [case((risky, 0), else_=1)]
    if backlog_state(session, queue, now).overloaded:
        return [], first
    return [risky], first
