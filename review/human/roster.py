"""Memberships as an admin changes them: add or remove a user to or from any queue, with
skill tags, audited in the account trail.

The changes themselves are review/human/members.py's (`set_member` commits, and
`remove_member` hands back what the member held); these wrappers check the input, add the
`AccountEvent` first so that it lands in the same commit, and roll it back on a refusal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from review.core.accounts import get_user, record_account_event
from review.core.errors import DomainError, InvalidInput, NotFound
from review.core.models import Queue
from review.core.queues import queue_by_slug
from review.human.members import queue_members, remove_member, set_member

MAX_TAGS = 50
TAG_MAX = 64


@dataclass(frozen=True)
class Actor:
    """Who removes a member, for the `released` events of what they held: a user's name,
    or `api:<key name>` for an admin key, which has no user."""

    name: str


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
    record_account_event(session, actor, "membership.set", user.id, queue=slug,
                         name=user.name, tags=tags)
    try:
        set_member(session, Actor(actor), queue, user.name, tags)  # type: ignore[arg-type]
    except DomainError:
        session.rollback()
        raise
    return {"queue": slug, "user_id": user.id, "name": user.name, "tags": tags}


def remove_membership(session: Session, actor: str, slug: str, user_id: int) -> None:
    """End the user's membership; items they held go back to the queue. Committed;
    NotFound when they are not a member."""
    queue = _queue(session, slug)
    user = get_user(session, user_id)
    record_account_event(session, actor, "membership.removed", user.id, queue=slug,
                         name=user.name)
    if not remove_member(session, Actor(actor), queue, user.id):  # type: ignore[arg-type]
        session.rollback()
        raise NotFound("not_a_member", f"{user.name} is not a member of {slug!r}.")
