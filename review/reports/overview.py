"""The home page's figures: per queue, how many items wait in each state."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from review.core.models import Item, Queue, QueueMember


def visible_queues(session: Session, user_id: int, role: str) -> list[Queue]:
    """Reviewers see their queues; supervisors and admins see all."""
    query = select(Queue).order_by(Queue.slug)
    if role == "reviewer":
        query = query.join(QueueMember, QueueMember.queue_id == Queue.id).where(
            QueueMember.user_id == user_id)
    return list(session.scalars(query))


def queue_overview(session: Session, user_id: int, role: str) -> list[dict[str, Any]]:
    queues = visible_queues(session, user_id, role)
    if not queues:
        return []
    counts = session.execute(
        select(Item.queue_id, Item.status, func.count())
        .where(Item.queue_id.in_([q.id for q in queues]),
               Item.status.in_(("checking", "pending", "in_review")))
        .group_by(Item.queue_id, Item.status)
    ).all()
    by_queue: dict[int, dict[str, int]] = {}
    for queue_id, status, count in counts:
        by_queue.setdefault(queue_id, {})[status] = count
    return [
        {"slug": q.slug, "name": q.name, "sla_seconds": q.sla_seconds,
         "checking": by_queue.get(q.id, {}).get("checking", 0),
         "pending": by_queue.get(q.id, {}).get("pending", 0),
         "in_review": by_queue.get(q.id, {}).get("in_review", 0)}
        for q in queues
    ]
