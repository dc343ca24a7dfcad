"""Supervisor tools: assign an item to a reviewer, release or reassign items in bulk.

Every change is a conditional UPDATE on the item's version (see claims.py), recorded in
the audit trail; each function commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from review.core.access import can_review
from review.core.errors import Conflict, InvalidInput
from review.core.events import record_event
from review.core.models import Item, Queue, User
from review.human.claims import CLEAR_LEASE, OPEN_STATUSES, reload_item


def _assign_one(session: Session, actor: User, item: Item, reviewer: User | None) -> bool:
    """Reserve `item` for `reviewer` (None: anyone); a claim by someone else is released."""
    if item.status not in OPEN_STATUSES:
        return False
    values: dict[str, Any] = {"assigned_to": reviewer.id if reviewer else None,
                              "version": Item.version + 1}
    # Reassigning takes the item back from whoever else holds it; unassigning
    # leaves a current holder alone.
    took_back = (reviewer is not None and item.status == "in_review"
                 and item.claimed_by != reviewer.id)
    if took_back:
        values.update(status="pending", **CLEAR_LEASE)
    moved = session.execute(
        update(Item).where(Item.id == item.id, Item.version == item.version,
                           Item.status.in_(OPEN_STATUSES))
        .values(**values).execution_options(synchronize_session=False)
    ).rowcount == 1
    if moved:
        record_event(session, item.id, "assigned", actor.name, {
            "to": reviewer.name if reviewer else None, "to_user_id": reviewer.id if reviewer
            else None, "from_user_id": item.assigned_to, "released_from": item.claimed_by
            if took_back else None})
    return moved


def _check_assignee(session: Session, queue: Queue, reviewer: User | None) -> None:
    if reviewer is not None and not can_review(session, reviewer, queue.id):
        raise InvalidInput("not_a_member",
                       f"{reviewer.name} is not a member of queue {queue.slug!r}.")


def assign(session: Session, actor: User, item: Item, reviewer: User | None) -> Item:
    """Assign (or with None unassign) one open item and commit; 409 if it changed meanwhile."""
    _check_assignee(session, item.queue, reviewer)
    if not _assign_one(session, actor, item, reviewer):
        session.rollback()
        raise Conflict("conflict", "The item changed or is already decided; "
                       "nothing was written.")
    session.commit()
    return reload_item(session, item.id)


def _open_items(session: Session, queue: Queue, item_ids: Iterable[str]) -> list[Item]:
    ids = list(dict.fromkeys(item_ids))
    if not ids:
        return []
    return list(session.scalars(select(Item).where(
        Item.id.in_(ids), Item.queue_id == queue.id, Item.status.in_(OPEN_STATUSES))
        .execution_options(populate_existing=True)))


def bulk_release(session: Session, actor: User, queue: Queue,
                 item_ids: Iterable[str]) -> list[str]:
    """Release every listed in-review item of `queue`; commit. Returns the released ids."""
    released = []
    for item in _open_items(session, queue, item_ids):
        if item.status != "in_review":
            continue
        won = session.execute(
            update(Item).where(Item.id == item.id, Item.status == "in_review",
                               Item.version == item.version)
            .values(status="pending", version=Item.version + 1, **CLEAR_LEASE)
            .execution_options(synchronize_session=False)
        ).rowcount == 1
        if won:
            record_event(session, item.id, "released", actor.name,
                         {"reason": "released by supervisor", "claimed_by": item.claimed_by})
            released.append(item.id)
    session.commit()
    return released


def bulk_reassign(session: Session, actor: User, queue: Queue, item_ids: Iterable[str],
                  reviewer: User | None) -> list[str]:
    """Assign every listed open item of `queue` to `reviewer`; commit. Returns the ids moved."""
    _check_assignee(session, queue, reviewer)
    moved = [item.id for item in _open_items(session, queue, item_ids)
             if _assign_one(session, actor, item, reviewer)]
    session.commit()
    return moved
