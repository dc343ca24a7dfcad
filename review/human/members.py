"""Who may review which queue, and the membership list supervisors manage.

A user reviews the queues they are a member of; admins review every queue.
Every reviewer-facing route (web and API) loads its queue or item through
`reviewable_queue` / `reviewable_item`, so an item of a queue the user is not
in is invisible (404) whatever URL or id they try.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from review.core.errors import NotAllowed, NotFound
from review.core.events import record_event
from review.core.models import Item, Queue, QueueMember, User
from review.core.queues import queue_by_slug


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


def queue_members(session: Session, queue: Queue) -> list[dict[str, Any]]:
    rows = session.execute(
        select(User, QueueMember.tags).join(QueueMember, QueueMember.user_id == User.id)
        .where(QueueMember.queue_id == queue.id).order_by(User.name)
    ).all()
    return [{"id": user.id, "name": user.name, "role": user.role, "active": user.active,
             "tags": list(tags or [])} for user, tags in rows]


def parse_tags(raw: str) -> list[str]:
    """'de, legal' -> ['de', 'legal'] (deduplicated, order kept)."""
    tags: list[str] = []
    for part in raw.replace(";", ",").split(","):
        tag = part.strip()
        if tag and tag not in tags and len(tag) <= 64:
            tags.append(tag)
    return tags


def set_member(session: Session, actor: User, queue: Queue, user_name: str,
               tags: list[str]) -> QueueMember:
    """Add `user_name` to the queue (or update their tags) and commit."""
    user = session.scalar(select(User).where(User.name == user_name))
    if user is None:
        raise NotFound("user_not_found", f"No user {user_name!r}.")
    member = membership(session, user, queue.id)
    if member is None:
        member = QueueMember(queue_id=queue.id, user_id=user.id, tags=tags)
        session.add(member)
    else:
        member.tags = tags
    session.commit()
    return member


def remove_member(session: Session, actor: User, queue: Queue, user_id: int) -> bool:
    """Remove a member and hand back any item they hold in this queue; commit."""
    from review.human.claims import release_held_by

    member = session.get(QueueMember, (queue.id, user_id))
    if member is None:
        return False
    session.delete(member)
    for item_id in release_held_by(session, queue.id, user_id):
        record_event(session, item_id, "released", actor.name,
                     {"reason": "member removed", "user_id": user_id})
    session.commit()
    return True
