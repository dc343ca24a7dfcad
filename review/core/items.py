"""Reading items: the API shape of an item and the decisions feed."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, joinedload

from review.core.clock import isoformat, utcnow
from review.core.errors import BadArgument, NotFound
from review.core.models import Item, Queue
from review.core.queues import queue_by_slug


def item_to_dict(item: Item, queue_slug: str | None = None) -> dict[str, Any]:
    decision = None
    if item.decided_at is not None:
        decision = {
            "outcome": item.decision_outcome,
            "output": item.decision_output,
            "reason": item.decision_reason,
            "note": item.decision_note,
            "decided_by": item.decided_by,
            "decided_by_kind": item.decided_by_kind,
            "decided_at": isoformat(item.decided_at),
        }
    check = None
    if item.check_verdict is not None:
        check = {
            "checker": item.check_checker,
            "verdict": item.check_verdict,
            "score": item.check_score,
            "reason": item.check_reason,
            "latency_ms": item.check_latency_ms,
            "checked_at": isoformat(item.checked_at),
        }
    model = None
    if item.model_name is not None or item.model_version is not None:
        model = {"name": item.model_name, "version": item.model_version}
    return {
        "id": item.id,
        "queue": queue_slug or item.queue.slug,
        "external_id": item.external_id,
        "status": item.status,
        "route": {"path": item.route_path, "reasons": item.route_reasons or [],
                  "audit_sampled": item.audit_sampled, "shadow_route": item.shadow_route},
        "input": item.input,
        "output": item.output,
        "context": item.context or [],
        "confidence": item.confidence,
        "model": model,
        "prompt_version": item.prompt_version,
        "priority": item.priority,
        "metadata": item.meta or {},
        "callback_url": item.callback_url,
        "created_at": isoformat(item.created_at),
        "check": check,
        "decision": decision,
        "sla": sla_to_dict(item),
        # Set once retention emptied input/output/context/metadata (review/ops/retention.py).
        "purged_at": isoformat(item.purged_at),
    }


def sla_to_dict(item: Item) -> dict[str, Any]:
    breached = item.sla_state == "breached"
    if item.due_at is not None and not breached:
        end = item.decided_at or utcnow()
        breached = end > item.due_at
    return {"due_at": isoformat(item.due_at), "state": item.sla_state, "breached": breached}


def get_item_for_key(session: Session, item_id: str, owner: str | None) -> Item:
    """Load an item the caller may see; `owner=None` means any (admin)."""
    # The queue comes in the same query: item_to_dict names it (one round trip, not two).
    item = session.get(Item, item_id, options=[joinedload(Item.queue)])
    # Another owner's item answers 404, not 403, so ids cannot be probed.
    if item is None or (owner is not None and item.submitter != owner):
        raise NotFound("not_found", f"No item {item_id!r}.")
    return item


def encode_cursor(decided_at: datetime, item_id: str) -> str:
    raw = f"{decided_at.isoformat()}|{item_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        stamp, item_id = base64.urlsafe_b64decode(padded).decode().split("|", 1)
        return datetime.fromisoformat(stamp), item_id
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadArgument("bad_cursor", "The 'after' cursor is not one this API issued.") from exc


def list_decisions(
    session: Session, *, queue_slug: str | None, after: str | None, limit: int,
    owner: str | None, settled_before: datetime,
) -> dict[str, Any]:
    """Decided items in decision order, keyset-paginated on (decided_at, id).

    Only decisions at or before `settled_before` are listed: decided_at is stamped
    before the commit, so a decision still committing when a page is read would
    otherwise appear later *behind* the cursor that page returned, and be skipped.
    """
    query = select(Item, Queue.slug).join(Queue, Queue.id == Item.queue_id).where(
        Item.decided_at.is_not(None), Item.decided_at <= settled_before
    )
    if queue_slug is not None:
        queue = queue_by_slug(session, queue_slug)
        if queue is None:
            raise NotFound("queue_not_found", f"No queue {queue_slug!r}.")
        query = query.where(Item.queue_id == queue.id)
    if owner is not None:
        query = query.where(Item.submitter == owner)
    if after:
        stamp, item_id = decode_cursor(after)
        query = query.where(
            or_(Item.decided_at > stamp, and_(Item.decided_at == stamp, Item.id > item_id))
        )
    rows = session.execute(query.order_by(Item.decided_at, Item.id).limit(limit)).all()
    items = [item_to_dict(item, slug) for item, slug in rows]
    next_cursor = encode_cursor(rows[-1][0].decided_at, rows[-1][0].id) if rows else after
    return {"items": items, "next": next_cursor}
