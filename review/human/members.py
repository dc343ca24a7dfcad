"""The membership list supervisors manage: who is in a queue, with which skill tags.

Who may do what with a membership is in review/core/access.py.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from review.core.access import membership
from review.core.errors import NotFound
from review.core.events import record_event
from review.core.models import Queue, QueueMember, User
from review.human.claims import release_held_by


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
    member = session.get(QueueMember, (queue.id, user_id))
    if member is None:
        return False
    session.delete(member)
    for item_id in release_held_by(session, queue.id, user_id):
        record_event(session, item_id, "released", actor.name,
                     {"reason": "member removed", "user_id": user_id})
    session.commit()
    return True
