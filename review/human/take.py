"""A supervisor takes one specific item to review it now.

The reviewer's loop claims "the next" item; a supervisor working the manage page picks
one (an escalated item, the oldest breach). Taking reserves the item for them (as an
assignment would, taking it back from whoever held it) and leases it to them at once,
under the same rule as claiming: one held item per person and queue.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from review.core.access import can_supervise
from review.core.clock import isoformat, utcnow
from review.core.errors import Conflict, NotAllowed
from review.core.events import record_event
from review.core.models import Item, User
from review.human.assignment import assign
from review.human.claims import Claim, lease_seconds_for, reload_item


def take_item(session: Session, supervisor: User, item: Item,
              now: datetime | None = None) -> Claim:
    """Assign `item` to `supervisor` and lease it to them; commit. 409 when it is decided,
    changed meanwhile, or they already hold another item of the queue."""
    queue = item.queue
    if not can_supervise(session, supervisor, queue.id):
        raise NotAllowed("not_a_supervisor", f"You do not supervise queue {queue.slug!r}.")
    now = now or utcnow()
    other = session.scalar(select(Item.id).where(
        Item.queue_id == queue.id, Item.claimed_by == supervisor.id,
        Item.status == "in_review", Item.id != item.id))
    if other is not None:
        raise Conflict("already_holding", f"You hold item {other} of this queue: decide or "
                                          "release it first.")
    if item.status == "in_review" and item.claimed_by == supervisor.id:
        return Claim(item, item.lease_token or "", item.lease_expires_at or now)
    item = assign(session, supervisor, item, supervisor)  # takes it back from a holder
    token = secrets.token_hex(16)
    expires = now + timedelta(seconds=lease_seconds_for(queue))
    won = session.execute(
        update(Item).where(Item.id == item.id, Item.status == "pending",
                           Item.version == item.version,
                           or_(Item.assigned_to.is_(None), Item.assigned_to == supervisor.id))
        .values(status="in_review", claimed_by=supervisor.id, lease_token=token,
                lease_expires_at=expires, version=Item.version + 1)
        .execution_options(synchronize_session=False)).rowcount == 1
    if not won:
        session.rollback()
        raise Conflict("conflict", "The item changed or is already decided; nothing was taken.")
    record_event(session, item.id, "claimed", supervisor.name,
                 {"user_id": supervisor.id, "lease_expires_at": isoformat(expires),
                  "taken": True})
    session.commit()
    return Claim(reload_item(session, item.id), token, expires)
