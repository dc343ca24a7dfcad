"""Reading items: the API shape of an item and the decisions feed.

The feed pages on (feed_position, id), positions the database assigns in commit order
(migration 0007), so a client that follows `next` sees every decision exactly once
whatever the commit delay or the app servers' clocks (docs/reliability.md).
"""

from __future__ import annotations

import base64
import re
from datetime import datetime
from typing import Any

from sqlalchemy import create_engine, func, or_, select, text
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.pool import NullPool

from review.core.clock import isoformat, utcnow
from review.core.errors import BadArgument, NotFound
from review.core.models import Item, Queue
from review.core.queues import queue_by_slug

# Cursors are opaque to clients: "f1|<feed_position>|<item id>", base64url.
CURSOR_VERSION = "f1"
MAX_CURSOR = 200
ITEM_ID_MAX = 32  # items.id is String(32)

# Exactly the columns item_to_dict reads: the feed selects these as plain rows (no ORM
# objects, no identity map), which was most of a page's time (docs/benchmarks.md).
FEED_COLUMNS = (
    "id", "external_id", "status", "route_path", "route_reasons", "audit_sampled",
    "shadow_route", "input", "output", "context", "confidence", "model_name",
    "model_version", "prompt_version", "priority", "meta", "callback_url", "created_at",
    "check_checker", "check_verdict", "check_score", "check_reason", "check_latency_ms",
    "checked_at", "check_input_tokens", "check_output_tokens", "check_cost",
    "decision_outcome", "decision_output", "decision_reason", "decision_note", "decided_by",
    "decided_by_kind", "decided_at", "due_at", "sla_state", "purged_at",
    "usage_input_tokens", "usage_output_tokens", "usage_cost",
)


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
            "usage": _usage(item.check_input_tokens, item.check_output_tokens,
                            item.check_cost),
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
        # The model's usage as upstream sent it (docs/overload-and-cost.md#cost).
        "usage": _usage(item.usage_input_tokens, item.usage_output_tokens, item.usage_cost),
    }


def _usage(input_tokens: int | None, output_tokens: int | None,
           cost: float | None) -> dict[str, Any] | None:
    if input_tokens is None and output_tokens is None and cost is None:
        return None
    return {"input_tokens": input_tokens, "output_tokens": output_tokens, "cost": cost}


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


def encode_cursor(position: int, item_id: str) -> str:
    raw = f"{CURSOR_VERSION}|{position}|{item_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int | None, str]:
    """(position, item id) of a cursor; position None for a cursor issued before
    migration 0007 ("decided_at|id"), which names the item to continue after."""
    bad = BadArgument("bad_cursor", "The 'after' cursor is not one this API issued.")
    if len(cursor) > MAX_CURSOR:
        raise bad
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        parts = base64.urlsafe_b64decode(padded).decode().split("|")
        if len(parts) == 3 and parts[0] == CURSOR_VERSION:
            position: int | None = _int64(parts[1])
        elif len(parts) == 2:
            datetime.fromisoformat(parts[0])
            position = None
        else:
            raise ValueError("not a cursor")
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad from exc
    item_id = parts[-1]
    # The id is bound into SQL: a NUL (valid base64 can carry one) fails on PostgreSQL.
    if not 0 < len(item_id) <= ITEM_ID_MAX or not item_id.isprintable():
        raise bad
    return position, item_id


def _int64(text: str) -> int:
    if not re.fullmatch(r"-?[0-9]{1,19}", text) or not -2**63 <= int(text) < 2**63:
        raise ValueError("position out of range")
    return int(text)


def _cursor_position(session: Session, cursor: str, owner: str | None) -> tuple[int, str]:
    position, item_id = decode_cursor(cursor)
    if position is not None:
        return position, item_id
    # An old cursor named the last item it returned: continue after that item's position
    # (older decisions were numbered in the old order, so the order there is unchanged).
    query = select(Item.feed_position).where(Item.id == item_id,
                                             Item.feed_position.is_not(None))
    if owner is not None:
        query = query.where(Item.submitter == owner)
    position = session.scalar(query)
    if position is None:
        raise BadArgument("bad_cursor", "This cursor is from an older release and names no "
                          "decision of yours; read the feed from the start (no 'after').")
    return position, item_id


def list_decisions(
    session: Session, *, queue_slug: str | None, after: str | None, limit: int,
    owner: str | None,
) -> dict[str, Any]:
    """Decided items in commit order, keyset-paginated on (feed_position, id).

    feed_position is set by the database inside the deciding transaction (migration
    0007), never from an app clock. On SQLite writers take turns, so positions are in
    commit order. On PostgreSQL a position is the writer's transaction id, so only
    positions below the oldest transaction of this database still running
    (review_feed_horizon) are listed: those writers have all ended, and whatever commits
    later is numbered at or above that horizon, never behind a cursor this page returns.
    A client following `next` therefore sees each decision exactly once, however late
    its commit; the price is that a write transaction left open holds the feed back.
    """
    # The position is read as a column: an Item already in the session's identity map
    # (inserted before the trigger numbered it) would keep its stale None.
    query = (select(*[getattr(Item, name).label(name) for name in FEED_COLUMNS],
                    Queue.slug.label("queue_slug"), Item.feed_position.label("feed_position"))
             .join(Queue, Queue.id == Item.queue_id)
             .where(Item.feed_position.is_not(None)))
    if session.get_bind().dialect.name == "postgresql":
        query = query.where(Item.feed_position < func.review_feed_horizon())
    if queue_slug is not None:
        queue = queue_by_slug(session, queue_slug)
        if queue is None:
            raise NotFound("queue_not_found", f"No queue {queue_slug!r}.")
        query = query.where(Item.queue_id == queue.id)
    if owner is not None:
        query = query.where(Item.submitter == owner)
    if after:
        position, item_id = _cursor_position(session, after, owner)
        # Written as a range on the position plus a filter, so it is an index range scan
        # on SQLite as well as PostgreSQL.
        query = query.where(Item.feed_position >= position,
                            or_(Item.feed_position > position, Item.id > item_id))
    rows = session.execute(query.order_by(Item.feed_position, Item.id).limit(limit)).all()
    # A row has every attribute item_to_dict reads (FEED_COLUMNS), under the same names.
    items = [item_to_dict(row, row.queue_slug) for row in rows]  # type: ignore[arg-type]
    next_cursor = encode_cursor(rows[-1].feed_position, rows[-1].id) if rows else after
    return {"items": items, "next": next_cursor}


def align_feed_positions(database_url: str) -> int:
    """Make new feed positions start above every stored one; returns the offset; commits.

    Run after the database was restored (or copied) into another PostgreSQL cluster:
    positions are transaction ids plus review_feed_offset(), and a new cluster's ids
    may be lower than the restored ones, which would put new decisions behind every
    client's cursor. The offset only grows. Nothing to do on SQLite.
    """
    engine = create_engine(database_url, poolclass=NullPool)
    next_xid: int
    offset: int
    try:
        if engine.dialect.name != "postgresql":
            return 0
        with engine.begin() as conn:
            highest = conn.scalar(select(func.max(Item.feed_position)))
            next_xid, offset = conn.execute(text(
                "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint,"
                " review_feed_offset()")).one()
            if highest is None or highest < next_xid + offset:
                return offset
            offset = highest - next_xid + 1
            conn.execute(text(
                "CREATE OR REPLACE FUNCTION review_feed_offset() RETURNS bigint"
                f" LANGUAGE sql STABLE AS $$ SELECT {int(offset)}::bigint $$"))
            return offset
    finally:
        engine.dispose()
