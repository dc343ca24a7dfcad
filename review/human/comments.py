"""Comments on an item: a thread for its reviewers and supervisors.

A comment is an audit event (`commented`, its text in `data.body`), so the thread is
part of the item's trail by construction: append-only, ordered with every state change,
exported with the audit log, and kept or purged with the item's other events.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from review.core.access import reviewable_item
from review.core.clock import isoformat
from review.core.errors import InvalidInput
from review.core.events import record_event
from review.core.models import ItemEvent, User

COMMENTED = "commented"
MAX_COMMENT = 4000


def comment_to_dict(event: ItemEvent) -> dict[str, Any]:
    return {"id": event.id, "author": event.actor, "at": isoformat(event.at),
            "body": (event.data or {}).get("body", "")}


def comments_for(session: Session, item_id: str) -> list[dict[str, Any]]:
    """The item's comments, oldest first."""
    events = session.scalars(select(ItemEvent).where(
        ItemEvent.item_id == item_id, ItemEvent.kind == COMMENTED).order_by(ItemEvent.id))
    return [comment_to_dict(event) for event in events]


def add_comment(session: Session, user: User, item_id: str, body: Any) -> dict[str, Any]:
    """Add `user`'s comment to an item of a queue they review or supervise (404 for any
    other item, so ids cannot be probed); commits."""
    item = reviewable_item(session, user, item_id)
    if not isinstance(body, str) or not body.strip():
        raise InvalidInput("empty_comment", "A comment needs some text.")
    text = body.strip()
    if len(text) > MAX_COMMENT:
        raise InvalidInput("comment_too_long",
                           f"A comment holds at most {MAX_COMMENT} characters.")
    event = record_event(session, item.id, COMMENTED, user.name, {"body": text})
    session.commit()
    return comment_to_dict(event)
