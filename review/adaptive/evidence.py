"""Human evidence about a queue's router, read from decided items.

An error is a human decision that did not keep the model's output as it was:
reject or edit. Items that failed validation are left out of threshold evidence:
they never auto-approve, whatever the threshold, so they say nothing about where
it should be.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from review.core.models import Item, Queue

ERROR_OUTCOMES = frozenset({"reject", "edit"})


Version = tuple[str, str, str]
"""(model name, model version, prompt version); '' where the item named none."""


def version_key(model_name: str | None, model_version: str | None,
                prompt_version: str | None) -> Version:
    return model_name or "", model_version or "", prompt_version or ""


def version_filter(version: Version) -> ColumnElement[bool]:
    """Items of one version; '' stands for "none given" (NULL or empty). A different model
    name under the same version string is a different version: it has its own evidence."""
    def one(column: Any, value: str) -> ColumnElement[bool]:
        return or_(column.is_(None), column == "") if value == "" else column == value

    return and_(one(Item.model_name, version[0]), one(Item.model_version, version[1]),
                one(Item.prompt_version, version[2]))


def version_evidence(session: Session, queue: Queue, version: Version, limit: int,
                     since: datetime | None = None) -> list[tuple[float, bool, bool | None]]:
    """(confidence, is_error, passed the check: None if never checked) of the version's
    most recent human decisions on items created from `since` on (after a shift: only
    post-shift items)."""
    query = (select(Item.confidence, Item.decision_outcome, Item.route_reasons,
                    Item.check_verdict)
             .where(Item.queue_id == queue.id, Item.decided_by_kind == "reviewer",
                    version_filter(version))
             .order_by(Item.decided_at.desc()).limit(limit))
    if since is not None:
        query = query.where(Item.created_at >= since)
    rows = session.execute(query)
    return [(confidence, outcome in ERROR_OUTCOMES, None if verdict is None else verdict == "pass")
            for confidence, outcome, reasons, verdict in rows
            if not any(str(r).startswith("validation:") for r in reasons or [])]


def automation_samples(session: Session, queue: Queue, since: datetime | None,
                       limit: int) -> list[bool]:
    """is_error of the latest human decisions on items the router would have decided alone.

    Those are audit samples of the auto-approve region and items held back (shadow,
    rollout share, open breaker, new version) whose live route was auto:
    together, humans' verdict on what automation does or would do. Newest first;
    only decisions after `since` (the breaker's last change) so a reset starts afresh.
    """
    query = (select(Item.decision_outcome)
             .where(Item.queue_id == queue.id, Item.decided_by_kind == "reviewer",
                    Item.decided_at.is_not(None),
                    or_(Item.audit_sampled.is_(True), Item.shadow_route == "auto"))
             .order_by(Item.decided_at.desc()).limit(limit))
    if since is not None:
        query = query.where(Item.decided_at > since)
    return [outcome in ERROR_OUTCOMES for outcome in session.scalars(query)]
