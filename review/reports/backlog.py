"""Queue health, the dashboard's figures: backlog, age, SLA exposure, flow.

Three grouped queries cover every supervised queue at once, however many
items there are: open items (few, via the status index), items created in
the last 24 h and items decided in the last 24 h (index-only scans on the
report indexes of migration 0003). The alerts reuse the same figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, false, func, or_, select
from sqlalchemy.orm import Session

from review.core.models import Item, Queue
from review.core.sql_time import as_datetime, hour_floor, hours_ending_at

OPEN_STATUSES = ("checking", "pending", "in_review")
ROUTE_PATHS = ("auto", "check", "human")
MACHINE_KINDS = ("router", "checker")
# The decision rate behind "time to clear" is measured over this window.
RATE_WINDOW = timedelta(hours=1)
HOURS = 24


@dataclass
class QueueHealth:
    slug: str
    name: str
    queue_id: int
    sla_seconds: int
    backlog_cap: int | None
    pending: int = 0
    in_review: int = 0
    checking: int = 0
    oldest_created_at: datetime | None = None
    oldest_age_seconds: float | None = None
    at_risk: int = 0
    breached: int = 0
    hours: list[dict[str, Any]] = field(default_factory=list)
    split: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ROUTE_PATHS, 0))
    # Decisions that emptied the backlog (not the router's) in the last RATE_WINDOW.
    recent_decisions: int = 0
    first_recent_decision_at: datetime | None = None
    # How long the queue's pace has been watched: since the oldest waiting item arrived
    # or the first decision counted in the rate, whichever came first. Shorter than
    # RATE_WINDOW just after start-up, when the rate per hour is a guess.
    observed_seconds: float | None = None

    @property
    def backlog(self) -> int:
        return self.pending + self.in_review + self.checking

    @property
    def decisions_per_hour(self) -> float:
        return self.recent_decisions * 3600 / RATE_WINDOW.total_seconds()

    @property
    def projected_clear_seconds(self) -> float | None:
        """Seconds to empty the backlog at the current rate; 0 when empty, None if never."""
        if self.backlog == 0:
            return 0.0
        if self.recent_decisions == 0:
            return None
        return self.backlog / self.decisions_per_hour * 3600

    def to_dict(self) -> dict[str, Any]:
        return {
            "queue": self.slug, "name": self.name, "sla_seconds": self.sla_seconds,
            "backlog_cap": self.backlog_cap, "backlog": self.backlog,
            "pending": self.pending, "in_review": self.in_review, "checking": self.checking,
            "oldest_age_seconds": self.oldest_age_seconds,
            "at_risk": self.at_risk, "breached": self.breached,
            "split_24h": self.split, "decisions_per_hour": self.decisions_per_hour,
            "projected_clear_seconds": self.projected_clear_seconds,
            "hours": [{"start": h["start"].isoformat() + "Z", "inflow": h["inflow"],
                       "decisions": h["decisions"]} for h in self.hours],
        }


def queue_health(session: Session, queues: list[Queue], now: datetime,
                 at_risk_ratio: float) -> list[QueueHealth]:
    """The health of each queue in `queues`, as of `now`."""
    health = {q.id: QueueHealth(q.slug, q.name, q.id, q.sla_seconds, q.backlog_cap)
              for q in queues}
    if not health:
        return []
    ids = list(health)
    _open_items(session, queues, health, now, at_risk_ratio)
    hours = hours_ending_at(now, HOURS)
    for h in health.values():
        h.hours = [{"start": start, "inflow": 0, "decisions": 0} for start in hours]
    index = {start: i for i, start in enumerate(hours)}
    _inflow(session, ids, health, hours[0], now, index)
    _decisions(session, ids, health, hours[0], now, index)
    for h in health.values():
        starts = [t for t in (h.oldest_created_at, h.first_recent_decision_at) if t is not None]
        if starts:
            h.observed_seconds = max(0.0, (now - min(starts)).total_seconds())
    return [health[q.id] for q in queues]


def at_risk_condition(queues: list[Queue], now: datetime, ratio: float) -> Any:
    """Open and not yet due, but within the last (1 - ratio) of the queue's SLA.

    Uses the queue's current SLA length: exact unless the SLA changed while
    the item waited (then the SLA clock's own state may differ slightly).
    """
    per_queue = [and_(Item.queue_id == q.id,
                      Item.due_at <= now + timedelta(seconds=(1 - ratio) * q.sla_seconds))
                 for q in queues]
    return and_(Item.due_at > now, or_(false(), *per_queue))


def _open_items(session: Session, queues: list[Queue], health: dict[int, QueueHealth],
                now: datetime, ratio: float) -> None:
    rows = session.execute(
        select(Item.queue_id, Item.status, func.count(), func.min(Item.created_at),
               func.sum(case((Item.due_at <= now, 1), else_=0)),
               func.sum(case((at_risk_condition(queues, now, ratio), 1), else_=0)))
        .where(Item.status.in_(OPEN_STATUSES), Item.queue_id.in_(list(health)))
        .group_by(Item.queue_id, Item.status)
    ).all()
    for queue_id, status, count, oldest, breached, at_risk in rows:
        h = health[queue_id]
        setattr(h, status, count)
        h.breached += int(breached or 0)
        h.at_risk += int(at_risk or 0)
        oldest = as_datetime(oldest)
        if h.oldest_created_at is None or oldest < h.oldest_created_at:
            h.oldest_created_at = oldest
    for h in health.values():
        if h.oldest_created_at is not None:
            h.oldest_age_seconds = max(0.0, (now - h.oldest_created_at).total_seconds())


def _inflow(session: Session, ids: list[int], health: dict[int, QueueHealth],
            start: datetime, now: datetime, index: dict[datetime, int]) -> None:
    bucket = hour_floor(session, Item.created_at)
    rows = session.execute(
        select(Item.queue_id, bucket, Item.route_path, func.count())
        .where(Item.queue_id.in_(ids), Item.created_at >= start, Item.created_at <= now)
        .group_by(Item.queue_id, bucket, Item.route_path)
    ).all()
    for queue_id, hour, path, count in rows:
        h = health[queue_id]
        slot = index.get(as_datetime(hour))
        if slot is not None:
            h.hours[slot]["inflow"] += count
        h.split[path] = h.split.get(path, 0) + count


def _decisions(session: Session, ids: list[int], health: dict[int, QueueHealth],
               start: datetime, now: datetime, index: dict[datetime, int]) -> None:
    bucket = hour_floor(session, Item.decided_at)
    counted = and_(Item.decided_at > now - RATE_WINDOW, Item.decided_by_kind.not_in(("router",)))
    rows = session.execute(
        select(Item.queue_id, bucket, func.count(), func.sum(case((counted, 1), else_=0)),
               func.min(case((counted, Item.decided_at))))
        .where(Item.queue_id.in_(ids), Item.decided_at.is_not(None),
               Item.decided_at >= start, Item.decided_at <= now)
        .group_by(Item.queue_id, bucket)
    ).all()
    for queue_id, hour, count, recent_count, first_recent in rows:
        h = health[queue_id]
        slot = index.get(as_datetime(hour))
        if slot is not None:
            h.hours[slot]["decisions"] += count
        h.recent_decisions += int(recent_count or 0)
        if first_recent is not None:
            first_recent = as_datetime(first_recent)
            if h.first_recent_decision_at is None or first_recent < h.first_recent_decision_at:
                h.first_recent_decision_at = first_recent
