"""Who may review, manage and report on which queue: the per-object authorisation rules.

A user reviews the queues they are a member of; admins review every queue. Every
reviewer-facing route (web and API) loads its queue or item through `reviewable_queue` /
`reviewable_item`, so an item of a queue the user is not in is invisible (404) whatever
URL or id they try.

Admins (and admin-scope API keys) supervise every queue. A supervisor supervises the
queues they are a member of, so a team lead sees their own team's figures and nobody
else's. Reviewers supervise nothing.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from review.core.errors import NotAllowed, NotFound
from review.core.models import Item, Queue, QueueMember, User
from review.core.queues import queue_by_slug


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


def report_queue(session: Session, user: User | None, slug: str | None) -> Queue:
    """The queue a report shows: `slug` if `user` supervises it (default: their first);
    404 otherwise (no hint that it exists)."""
    queues = supervised_queues(session, user)
    if not queues:
        raise NotFound("no_queue", "You supervise no queue.")
    if not slug:
        return queues[0]
    for queue in queues:
        if queue.slug == slug:
            return queue
    raise NotFound("unknown_queue", f"No queue {slug!r} that you supervise.")


def report_queues(session: Session, user: User | None, slug: str | None) -> list[Queue]:
    """The queues a report covers: the one named `slug` (as `report_queue` finds it), or
    every queue `user` supervises when no slug is given."""
    return [report_queue(session, user, slug)] if slug else supervised_queues(session, user)


def membership(session: Session, user: User, queue_id: int) -> QueueMember | None:
    return session.get(QueueMember, (queue_id, user.id))


def can_review(session: Session, user: User, queue_id: int) -> bool:
    if not user.active:
        return False
    return user.role == "admin" or membership(session, user, queue_id) is not None


def can_supervise(session: Session, user: User, queue_id: int) -> bool:
    """Admins supervise every queue, supervisors the queues they are members of."""
    if not user.active:
        return False
    if user.role == "admin":
        return True
    return user.role == "supervisor" and membership(session, user, queue_id) is not None


def supervised_queue(session: Session, user: User, slug: str) -> Queue:
    """The queue `slug` if `user` supervises it; 404 otherwise."""
    queue = queue_by_slug(session, slug)
    if queue is None or not can_supervise(session, user, queue.id):
        raise NotFound("queue_not_found", f"No queue {slug!r} that you supervise.")
    return queue


def member_tags(session: Session, user: User, queue_id: int) -> list[str]:
    """The member's skill tags; empty means "any item" (and always for admins)."""
    member = membership(session, user, queue_id)
    if member is None:
        return []
    return [str(tag) for tag in (member.tags or []) if str(tag).strip()]


def reviewable_queue(session: Session, user: User, slug: str) -> Queue:
    """The queue `slug` if `user` may review it: unknown → 404, not a member → 403."""
    queue = queue_by_slug(session, slug)
    if queue is None:
        raise NotFound("queue_not_found", f"No queue {slug!r}.")
    if not can_review(session, user, queue.id):
        raise NotAllowed("not_a_member", f"You are not a member of queue {slug!r}.")
    return queue


def reviewable_item(session: Session, user: User, item_id: str) -> Item:
    """The item if `user` may review its queue; 404 otherwise, so ids cannot be probed."""
    item = session.get(Item, item_id)
    if item is None or not can_review(session, user, item.queue_id):
        raise NotFound("not_found", f"No item {item_id!r}.")
    return item
