"""The supervisor's item list: one queue's items, filtered, sorted and paged.

Behind the manage page's Items tab and every number on the dashboard (each links
here with the filter that produced it). Filters come from the query string and are
validated into an `ItemFilter`; anything unknown falls back to the default, so a
hand-edited URL never errors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from review.core.clock import utcnow
from review.core.models import Item, Queue, User

STATUS_FILTERS = {
    "open": ("checking", "pending", "in_review"),
    "pending": ("pending",),
    "in_review": ("in_review",),
    "checking": ("checking",),
    "decided": ("approved", "rejected"),
    "all": (),
}
SLA_FILTERS = ("any", "ok", "at_risk", "breached")
ROUTE_FILTERS = ("any", "auto", "check", "human")
SORTS = {
    "oldest": (Item.created_at.asc(),),
    "newest": (Item.created_at.desc(),),
    "due": (Item.due_at.asc(), Item.created_at.asc()),
    "confidence": (Item.confidence.asc(), Item.created_at.asc()),
    "-confidence": (Item.confidence.desc(), Item.created_at.asc()),
    "priority": (Item.priority.desc(), Item.due_at.asc(), Item.created_at.asc()),
    "decided": (Item.decided_at.desc(),),
}
PER_PAGE = 50
SNIPPET = 120


@dataclass(frozen=True)
class ItemFilter:
    status: str = "open"
    sla: str = "any"
    route: str = "any"
    search: str = ""
    sort: str = "priority"
    page: int = 1

    @classmethod
    def from_args(cls, args: Any) -> ItemFilter:
        """Parse a query string mapping; unknown values fall back to the defaults."""
        status = args.get("status", "open")
        sla = args.get("sla", "any")
        route = args.get("route", "any")
        sort = args.get("sort", "priority")
        raw_page = args.get("page", "1")
        page = int(raw_page) if raw_page.isdigit() and len(raw_page) < 7 else 1
        return cls(status=status if status in STATUS_FILTERS else "open",
                   sla=sla if sla in SLA_FILTERS else "any",
                   route=route if route in ROUTE_FILTERS else "any",
                   search=(args.get("q") or "").strip()[:200],
                   sort=sort if sort in SORTS else "priority", page=max(1, page))

    def args(self, **changes: Any) -> dict[str, Any]:
        """Query-string arguments of this filter with `changes`, defaults left out."""
        chosen = replace(self, **changes)
        values = {"status": chosen.status, "sla": chosen.sla, "route": chosen.route,
                  "q": chosen.search, "sort": chosen.sort, "page": chosen.page}
        defaults = {"status": "open", "sla": "any", "route": "any", "q": "",
                    "sort": "priority", "page": 1}
        return {k: v for k, v in values.items() if v != defaults[k]}


def snippet(output: Any, limit: int = SNIPPET) -> str:
    """The first `limit` characters of an output, as text."""
    text = output if isinstance(output, str) else json.dumps(output, ensure_ascii=False)
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def item_list(session: Session, queue: Queue, chosen: ItemFilter,
              now: datetime | None = None) -> dict[str, Any]:
    """One page of the queue's items under `chosen`, with the total and page count."""
    now = now or utcnow()
    where = [Item.queue_id == queue.id, Item.purged_at.is_(None)]
    statuses = STATUS_FILTERS[chosen.status]
    if statuses:
        where.append(Item.status.in_(statuses))
    if chosen.sla != "any":
        where.append(Item.sla_state == chosen.sla)
    if chosen.route != "any":
        where.append(Item.route_path == chosen.route)
    if chosen.search:
        where.append(or_(Item.id.startswith(chosen.search, autoescape=True),
                         Item.external_id.startswith(chosen.search, autoescape=True)))
    total = session.scalar(select(func.count()).select_from(Item).where(*where)) or 0
    pages = max(1, -(-total // PER_PAGE))
    page = min(chosen.page, pages)
    items = list(session.scalars(
        select(Item).where(*where).order_by(*SORTS[chosen.sort], Item.id)
        .offset((page - 1) * PER_PAGE).limit(PER_PAGE)))
    people = {i.claimed_by for i in items} | {i.assigned_to for i in items}
    people.discard(None)
    names = dict(session.execute(select(User.id, User.name).where(User.id.in_(people))).all()) \
        if people else {}
    rows = [{
        "id": i.id, "external_id": i.external_id, "status": i.status,
        "escalated": i.escalated, "priority": i.priority, "confidence": i.confidence,
        "snippet": snippet(i.output), "route": i.route_path, "sla_state": i.sla_state,
        "created_at": i.created_at, "age_seconds": (now - i.created_at).total_seconds(),
        "due_at": i.due_at, "decided_at": i.decided_at, "outcome": i.decision_outcome,
        "claimed_by": names.get(i.claimed_by), "assigned_to": names.get(i.assigned_to),
        "open": i.status in ("pending", "in_review"),
    } for i in items]
    return {"rows": rows, "total": total, "page": page, "pages": pages,
            "per_page": PER_PAGE, "filter": replace(chosen, page=page)}
