"""A queue's backlog state as upstream and the overflow policy see it: how many items wait,
how long a new one would wait at the current pace, and whether the queue is full.

One query per queue (three scalar subqueries in one SELECT, on the status index and the
report-decided index), cheap enough to run on every ingest request. Ingest
(review/intake/overflow.py) answers it to upstream and sheds by it; the alert evaluator
(review/alerts/overload.py) opens and resolves the `overflow` episode by the same figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from review.core.models import Item, OverflowShed, Queue
from review.core.sql_time import as_datetime

OPEN_STATUSES = ("checking", "pending", "in_review")
# The pace is measured over the last hour, and over at least five minutes: one decision a
# second ago must not read as "3,600 an hour".
RATE_WINDOW = timedelta(hours=1)
MIN_RATE_SPAN = timedelta(minutes=5)
# Retry-After when no pace is known (nothing decided for an hour), and its ceiling.
DEFAULT_RETRY_SECONDS = 60
MAX_RETRY_SECONDS = 3600


@dataclass
class BacklogState:
    queue: str
    pending: int  # open items: checking, pending and in review
    cap: int | None
    sla_seconds: int
    decisions_per_hour: float  # decisions that emptied the backlog (not the router's)

    @property
    def wait_seconds(self) -> float | None:
        """Projected wait of a new item at the current pace; None when no pace is known."""
        if self.pending == 0:
            return 0.0
        if self.decisions_per_hour <= 0:
            return None
        return self.pending / self.decisions_per_hour * 3600

    @property
    def over_cap(self) -> bool:
        """At or above the cap: one more item would take the backlog past it."""
        return self.cap is not None and self.pending >= self.cap

    @property
    def over_sla(self) -> bool:
        wait = self.wait_seconds
        return wait is not None and wait > self.sla_seconds

    @property
    def overloaded(self) -> bool:
        return self.over_cap or self.over_sla

    def why(self) -> str:
        parts = []
        if self.over_cap:
            parts.append(f"backlog {self.pending} at its cap of {self.cap}")
        if self.over_sla:
            parts.append(f"projected wait {self.wait_seconds:.0f} s over the SLA of "
                         f"{self.sla_seconds} s")
        return " and ".join(parts) or "within cap and SLA"

    def retry_after(self) -> int:
        """Seconds until the queue is projected to take work again (1..3600)."""
        rate = self.decisions_per_hour / 3600
        if rate <= 0:
            return DEFAULT_RETRY_SECONDS
        excess = 0.0
        if self.over_cap and self.cap is not None:
            excess = self.pending - self.cap + 1
        if self.over_sla:
            excess = max(excess, self.pending - self.sla_seconds * rate + 1)
        return int(min(MAX_RETRY_SECONDS, max(1, math.ceil(excess / rate))))

    def to_dict(self) -> dict[str, Any]:
        wait = self.wait_seconds
        return {"queue": self.queue, "pending": self.pending,
                "wait_seconds": None if wait is None else round(wait, 1),
                "over_cap": self.over_cap, "over_sla": self.over_sla,
                "backlog_cap": self.cap, "sla_seconds": self.sla_seconds,
                "decisions_per_hour": round(self.decisions_per_hour, 2)}

    def header(self) -> str:
        """The `Review-Backlog` response header's value."""
        wait = self.wait_seconds
        shown = "unknown" if wait is None else f"{wait:.0f}"
        return (f"queue={self.queue}, pending={self.pending}, wait={shown}, "
                f"over_cap={'true' if self.over_cap else 'false'}")


def backlog_state(session: Session, queue: Queue, now: datetime) -> BacklogState:
    """The queue's backlog and pace at `now`, in one round trip."""
    recent = (Item.queue_id == queue.id, Item.decided_at > now - RATE_WINDOW,
              Item.decided_at <= now, Item.decided_by_kind != "router")
    pending, decided, first = session.execute(select(
        select(func.count()).where(Item.queue_id == queue.id,
                                   Item.status.in_(OPEN_STATUSES)).scalar_subquery(),
        select(func.count()).where(*recent).scalar_subquery(),
        select(func.min(Item.decided_at)).where(*recent).scalar_subquery(),
    )).one()
    rate = 0.0
    if decided:
        if isinstance(first, str):  # SQLite answers a subquery's min() as text
            first = datetime.fromisoformat(first)
        span = max((now - first).total_seconds(), MIN_RATE_SPAN.total_seconds())
        rate = decided / min(span, RATE_WINDOW.total_seconds()) * 3600
    return BacklogState(queue.slug, int(pending or 0), queue.backlog_cap,
                        int(queue.sla_seconds), rate)


def checker_spend_today(session: Session, queue_id: int, now: datetime) -> float:
    """The queue's checker cost recorded since midnight UTC (its daily budget's use)."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return float(session.scalar(
        select(func.coalesce(func.sum(Item.check_cost), 0.0))
        .where(Item.checked_at >= midnight, Item.checked_at <= now,
               Item.queue_id == queue_id)) or 0.0)


MAX_LISTED = 200


def overflow_report(session: Session, queues: list[Queue], start: datetime, end: datetime
                    ) -> dict[str, Any]:
    """Per queue and UTC day in [start, end): items refused at the door (from
    `overflow_sheds`) and decided by the fallback; and the fallbacks sampled for a human
    to look at later (newest first, at most MAX_LISTED per queue)."""
    by_id = {q.id: q for q in queues}
    days: dict[tuple[str, date], dict[str, int]] = {}
    if not by_id:
        return {"days": [], "audit_samples": {}}

    def day_of(slug: str, value: Any) -> dict[str, int]:
        when = value if isinstance(value, date) and not isinstance(value, datetime) \
            else as_datetime(value).date()
        return days.setdefault((slug, when), {"refused": 0, "fallback": 0})

    for qid, day, refused in session.execute(
            select(OverflowShed.queue_id, func.date(OverflowShed.at), func.sum(OverflowShed.items))
            .where(OverflowShed.queue_id.in_(list(by_id)), OverflowShed.at >= start,
                   OverflowShed.at < end)
            .group_by(OverflowShed.queue_id, func.date(OverflowShed.at))):
        day_of(by_id[qid].slug, day)["refused"] += int(refused or 0)
    fallback = (Item.queue_id.in_(list(by_id)), Item.decided_by == "overflow",
                Item.created_at >= start, Item.created_at < end)
    for qid, day, count in session.execute(
            select(Item.queue_id, func.date(Item.created_at), func.count()).where(*fallback)
            .group_by(Item.queue_id, func.date(Item.created_at))):
        day_of(by_id[qid].slug, day)["fallback"] += count
    samples: dict[str, list[str]] = {}
    for queue in queues:
        samples[queue.slug] = list(session.scalars(
            select(Item.id).where(*fallback, Item.queue_id == queue.id,
                                  Item.audit_sampled.is_(True))
            .order_by(Item.created_at.desc()).limit(MAX_LISTED)))
    rows = [{"queue": slug, "day": d.isoformat(), **counts}
            for (slug, d), counts in sorted(days.items())]
    return {"days": rows, "audit_samples": samples}
