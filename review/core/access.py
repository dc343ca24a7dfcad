"""Who may see which queue's dashboard and reports.

Admins (and admin-scope API keys) supervise every queue. A supervisor
supervises the queues they are a member of, so a team lead sees their own
team's figures and nobody else's. Reviewers supervise nothing.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from review.core.errors import NotFound
from review.core.models import Queue, QueueMember, User


def supervised_queues(session: Session, user: User | None) -> list[Queue]:
    """The queues `user` supervises, by slug; `None` stands for an admin API key."""
    query = select(Queue).order_by(Queue.slug)
    if user is None or user.role == "admin":
        return list(session.scalars(query))
    if user.role != "supervisor":
        return []
    query = query.join(QueueMember, QueueMember.queue_id == Queue.id).where(
        QueueMember.user_id == user.id)
    return list(session.scalars(query))


def supervised_queue(session: Session, user: User | None, slug: str | None) -> Queue:
    """The queue `slug` if `user` supervises it; 404 otherwise (no hint that it exists)."""
    queues = supervised_queues(session, user)
    if not queues:
        raise NotFound("no_queue", "You supervise no queue.")
    if not slug:
        return queues[0]
    for queue in queues:
        if queue.slug == slug:
            return queue
    raise NotFound("unknown_queue", f"No queue {slug!r} that you supervise.")
