"""The audit trail: append-only rows, one per state change of an item."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from review.core.clock import isoformat, utcnow
from review.core.models import Item, ItemEvent


def record_event(
    session: Session, item_id: str, kind: str, actor: str, data: dict[str, Any] | None = None
) -> ItemEvent:
    """Add one audit event to the session; no commit (it lands with the change it records)."""
    event = ItemEvent(item_id=item_id, kind=kind, actor=actor, at=utcnow(), data=data or {})
    session.add(event)
    return event


def event_row(item_id: str, kind: str, actor: str, data: dict[str, Any] | None = None,
              at: datetime | None = None) -> dict[str, Any]:
    """An event as a row for `insert_events`."""
    return {"item_id": item_id, "kind": kind, "actor": actor, "at": at or utcnow(),
            "data": data or {}}


def insert_events(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert many events in one statement, in order, for items already flushed; no commit.

    Ingest writes three events per item; as ORM objects they cost more than the item.
    """
    if rows:
        session.execute(insert(ItemEvent), rows)


def item_history(session: Session, item_id: str) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(ItemEvent).where(ItemEvent.item_id == item_id).order_by(ItemEvent.id)
    )
    return [event_to_dict(e) for e in rows]


def event_to_dict(event: ItemEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "item_id": event.item_id,
        "kind": event.kind,
        "actor": event.actor,
        "at": isoformat(event.at),
        "data": event.data or {},
    }


def iter_events(
    session: Session, *, since: datetime | None = None, queue_id: int | None = None,
    batch: int = 1000,
) -> Iterator[dict[str, Any]]:
    """Every event in id order, streamed in keyset batches (for exports)."""
    last_id = 0
    while True:
        query = select(ItemEvent).where(ItemEvent.id > last_id)
        if since is not None:
            query = query.where(ItemEvent.at >= since)
        if queue_id is not None:
            query = query.join(Item, Item.id == ItemEvent.item_id).where(
                Item.queue_id == queue_id)
        rows = list(session.scalars(query.order_by(ItemEvent.id).limit(batch)))
        if not rows:
            return
        for event in rows:
            yield event_to_dict(event)
        last_id = rows[-1].id
