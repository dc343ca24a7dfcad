"""Queue memberships: who is in a queue, with which skill tags; changed by supervisors on
the manage page and by admins (web and API), every change audited in the account trail.

Who may do what with a membership is in review/core/access.py.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from review.core.access import membership
from review.core.accounts import get_user, record_account_event
from review.core.errors import InvalidInput, NotFound
from review.core.events import record_event
from review.core.models import Queue, QueueMember, User
from review.core.queues import queue_by_slug
from review.human.claims import release_held_by

MAX_TAGS = 50
TAG_MAX = 64


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


def set_member(session: Session, actor: str, queue: Queue, user_name: str,
               tags: list[str]) -> QueueMember:
    """Add `user_name` to the queue (or update their tags), audited, and commit."""
    user = session.scalar(select(User).where(User.name == user_name))
    if user is None:
        raise NotFound("user_not_found", f"No user {user_name!r}.")
    record_account_event(session, actor, "membership.set", user.id, queue=queue.slug,
                         name=user.name, tags=tags)
    member = membership(session, user, queue.id)
    if member is None:
        member = QueueMember(queue_id=queue.id, user_id=user.id, tags=tags)
        session.add(member)
    else:
        member.tags = tags
    session.commit()
    return member


def remove_member(session: Session, actor: str, queue: Queue, user_id: int) -> bool:
    """Remove a member, audited, and hand back any item they hold in this queue; commit.
    `actor` is a user's name or `api:<key name>`; False when they were not a member."""
    member = session.get(QueueMember, (queue.id, user_id))
    if member is None:
        return False
    user = session.get(User, user_id)
    record_account_event(session, actor, "membership.removed", user_id, queue=queue.slug,
                         name=user.name if user else None)
    session.delete(member)
    for item_id in release_held_by(session, queue.id, user_id):
        record_event(session, item_id, "released", actor,
                     {"reason": "member removed", "user_id": user_id})
    session.commit()
    return True


# --- Admin tools: memberships by queue slug and user id ---------------------------


def _queue(session: Session, slug: str) -> Queue:
    queue = queue_by_slug(session, slug)
    if queue is None:
        raise NotFound("queue_not_found", f"No queue {slug!r}.")
    return queue


def check_tags(tags: list[Any]) -> list[str]:
    """Tags deduplicated in order; InvalidInput unless each is 1..64 characters of text."""
    if not isinstance(tags, list) or len(tags) > MAX_TAGS:
        raise InvalidInput("invalid_tags", f"Tags are a list of at most {MAX_TAGS} strings.")
    clean: list[str] = []
    for tag in tags:
        if not isinstance(tag, str) or not 0 < len(tag.strip()) <= TAG_MAX \
                or not tag.isprintable():
            raise InvalidInput("invalid_tags", f"A tag is 1 to {TAG_MAX} printable "
                               "characters.")
        if tag.strip() not in clean:
            clean.append(tag.strip())
    return clean


def all_memberships(session: Session) -> list[dict[str, Any]]:
    """Every queue, by slug, with its members and their tags."""
    queues = session.scalars(select(Queue).order_by(Queue.slug))
    return [{"queue": q.slug, "name": q.name, "members": queue_members(session, q)}
            for q in queues]


def members_of(session: Session, slug: str) -> list[dict[str, Any]]:
    return queue_members(session, _queue(session, slug))


def add_membership(session: Session, actor: str, slug: str, user_id: int,
                   tags: list[Any]) -> dict[str, Any]:
    """Make the user a member of the queue with `tags` (or set their tags); committed."""
    tags = check_tags(tags)
    queue = _queue(session, slug)
    user = get_user(session, user_id)
    set_member(session, actor, queue, user.name, tags)
    return {"queue": slug, "user_id": user.id, "name": user.name, "tags": tags}


def remove_membership(session: Session, actor: str, slug: str, user_id: int) -> None:
    """End the user's membership; items they held go back to the queue. Committed;
    NotFound when they are not a member."""
    queue = _queue(session, slug)
    user = get_user(session, user_id)
    if not remove_member(session, actor, queue, user.id):
        raise NotFound("not_a_member", f"{user.name} is not a member of {slug!r}.")
