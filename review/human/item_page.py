"""What the reviewer pages show: a queue's summary, one item's review page and
the supervisor's list of open items. Built here so templates run no queries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from review.core.access import can_supervise, member_tags
from review.core.clock import isoformat, utcnow
from review.core.events import item_history
from review.core.models import Item, Queue, Review, User
from review.human.claims import lease_seconds_for, skipped_waiting
from review.human.members import queue_members
from review.human.verdicts import pretty

# Events whose data would tell a consensus reviewer what the others decided.
_BLIND_EVENTS = ("reviewed", "escalated")
MANAGE_LIMIT = 500
RECENT_DECISIONS = 8


def queue_summary(session: Session, user: User, queue: Queue) -> dict[str, Any]:
    counts = dict(session.execute(
        select(Item.status, func.count()).where(
            Item.queue_id == queue.id, Item.status.in_(("pending", "in_review")))
        .group_by(Item.status)).all())
    held = session.scalar(select(Item).where(
        Item.queue_id == queue.id, Item.claimed_by == user.id, Item.status == "in_review"))
    escalated = session.scalar(select(func.count()).where(
        Item.queue_id == queue.id, Item.status == "pending", Item.escalated.is_(True)))
    assigned_away = session.scalar(select(func.count()).where(
        Item.queue_id == queue.id, Item.status == "pending", Item.assigned_to.is_not(None),
        Item.assigned_to != user.id))
    skipped, back_in = skipped_waiting(session, user, queue) if held is None else (0, 0.0)
    return {"slug": queue.slug, "name": queue.name, "pending": counts.get("pending", 0),
            "in_review": counts.get("in_review", 0), "escalated": escalated or 0,
            "held": held, "required_reviews": queue.required_reviews,
            "supervises": can_supervise(session, user, queue.id),
            "tags": member_tags(session, user, queue.id),
            "supervisor": user.has_role("supervisor"),
            "assigned_away": assigned_away or 0, "skipped": skipped,
            "skipped_back_minutes": max(1, round(back_in / 60)),
            "done_today": _done_today(session, user, queue),
            "recent": recent_decisions(session, user, queue)}


def _today(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def _done_today(session: Session, user: User, queue: Queue, now: datetime | None = None) -> int:
    """The reviewer's verdicts in this queue since midnight UTC."""
    start = _today(now or utcnow())
    return session.scalar(select(func.count()).select_from(Review).where(
        Review.reviewer_id == user.id, Review.queue_id == queue.id,
        Review.created_at >= start)) or 0


def recent_decisions(session: Session, user: User, queue: Queue) -> list[dict[str, Any]]:
    """The reviewer's last verdicts in this queue, newest first, with links to reopen them."""
    rows = session.execute(
        select(Review.item_id, Review.outcome, Review.reason, Review.created_at)
        .where(Review.reviewer_id == user.id, Review.queue_id == queue.id)
        .order_by(Review.created_at.desc(), Review.id.desc()).limit(RECENT_DECISIONS)).all()
    return [{"item_id": r.item_id, "outcome": r.outcome, "reason": r.reason,
             "at": isoformat(r.created_at)} for r in rows]


def progress(session: Session, user: User, queue: Queue) -> dict[str, Any]:
    """"23 done today · 61 waiting": the reviewer's day and the queue's backlog."""
    waiting = session.scalar(select(func.count()).where(
        Item.queue_id == queue.id, Item.status == "pending")) or 0
    return {"waiting": waiting, "done_today": _done_today(session, user, queue)}


def history_for(session: Session, item: Item, user: User) -> list[dict[str, Any]]:
    """The item's audit trail; under consensus, reviewers do not see others' verdicts."""
    history = item_history(session, item.id)
    blind = (item.queue.required_reviews > 1 and item.decided_at is None
             and not user.has_role("supervisor"))
    if blind:
        for event in history:
            if event["kind"] in _BLIND_EVENTS:
                event["data"] = {}
    return history


def _context_entries(context: list[Any]) -> list[dict[str, Any]]:
    entries = []
    for entry in context or []:
        if isinstance(entry, str):
            entries.append({"title": None, "text": entry, "url": None})
        elif isinstance(entry, dict):
            text = entry.get("text") or entry.get("content")
            entries.append({"title": entry.get("title") or entry.get("source"),
                            "text": text if isinstance(text, str) else pretty(entry),
                            "url": entry.get("url") if isinstance(entry.get("url"), str)
                            else None})
    return entries


def review_page(session: Session, user: User, item: Item,
                now: datetime | None = None) -> dict[str, Any]:
    now = now or utcnow()
    queue = item.queue
    held = (item.status == "in_review" and item.claimed_by == user.id
            and item.lease_expires_at is not None and item.lease_expires_at > now)
    reviews = session.scalar(select(func.count()).where(Review.item_id == item.id)) or 0
    supervises = can_supervise(session, user, queue.id)
    return {
        "item": item,
        "queue": queue,
        "held": held,
        "lease_token": item.lease_token if held else None,
        "lease_expires_at": isoformat(item.lease_expires_at) if held else None,
        "heartbeat_seconds": max(5, _lease_seconds(queue) // 3),
        "input_text": None if item.input is None else pretty(item.input),
        "output_text": pretty(item.output),
        "output_is_text": isinstance(item.output, str),
        "context": _context_entries(item.context),
        "due_at": isoformat(item.due_at),
        "reject_reasons": [str(r) for r in (queue.reject_reasons or [])],
        "history": history_for(session, item, user),
        "reviews": reviews,
        "decided_output_text": None if item.decision_output is None
        else pretty(item.decision_output),
        "supervises": supervises,
        "members": queue_members(session, queue) if supervises else [],
        "open": item.status in ("pending", "in_review"),
        "progress": progress(session, user, queue),
        "recent": recent_decisions(session, user, queue),
        "metadata": item.meta or {},
        "item_created": isoformat(item.created_at),
        "decided_at": isoformat(item.decided_at),
    }


def _lease_seconds(queue: Queue) -> int:
    return lease_seconds_for(queue)


def manage_page(session: Session, queue: Queue) -> dict[str, Any]:
    """Open items (escalated and in review first) and the members, for the supervisor page."""
    items = list(session.scalars(
        select(Item).where(Item.queue_id == queue.id, Item.status.in_(("pending", "in_review")))
        .order_by(Item.status, Item.escalated.desc(), Item.priority.desc(),
                  Item.due_at, Item.created_at).limit(MANAGE_LIMIT)))
    members = queue_members(session, queue)
    ids = {i.claimed_by for i in items} | {i.assigned_to for i in items}
    ids.discard(None)
    names = dict(session.execute(select(User.id, User.name).where(User.id.in_(ids))).all()) \
        if ids else {}
    rows = [{"item": i, "claimed_by": names.get(i.claimed_by), "assigned_to":
             names.get(i.assigned_to), "lease_expires_at": isoformat(i.lease_expires_at),
             "due_at": isoformat(i.due_at)} for i in items]
    others = session.scalars(select(User.name).where(
        User.active.is_(True), User.id.notin_([m["id"] for m in members] or [-1]))
        .order_by(User.name)).all()
    return {"queue": queue, "rows": rows, "members": members, "non_members": list(others),
            "limit": MANAGE_LIMIT}
