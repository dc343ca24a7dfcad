"""Deciding an item: the one place a final outcome is written.

Every decision goes through `record_decision`, guarded by a conditional
UPDATE on the item's version, so two deciders can never both win.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from review.core.clock import utcnow
from review.core.errors import Conflict, InvalidInput
from review.core.events import record_event
from review.core.models import Item
from review.webhooks.outbox import queue_decision_webhook

OUTCOMES = ("approve", "reject", "edit")


def record_decision(
    session: Session,
    item: Item,
    *,
    outcome: str,
    decided_by: str,
    kind: str,
    output: Any = None,
    reason: str | None = None,
    note: str | None = None,
    expected_statuses: tuple[str, ...] = ("checking", "pending", "in_review"),
    extra: dict[str, Any] | None = None,
) -> Item:
    """Decide `item` unless someone else changed it first (then Conflict, nothing written);
    no commit: the caller's transaction holds the decision and its webhook row.

    `kind` is router, checker or reviewer. Edits keep the reviewer's output
    as the final output; approvals keep the model's.
    """
    if outcome not in OUTCOMES:
        raise InvalidInput("bad_outcome", f"outcome must be one of {', '.join(OUTCOMES)}")
    now = utcnow()
    final_output = output if outcome == "edit" else (item.output if outcome == "approve" else None)
    status = "rejected" if outcome == "reject" else "approved"
    values = dict(
        status=status,
        decision_outcome=outcome,
        decision_output=final_output,
        decision_reason=reason,
        decision_note=note,
        decided_by=decided_by,
        decided_by_kind=kind,
        decided_at=now,
        claimed_by=None,
        lease_token=None,
        lease_expires_at=None,
        version=item.version + 1,
    )
    result = session.execute(
        update(Item)
        .where(Item.id == item.id, Item.version == item.version,
               Item.status.in_(expected_statuses))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise Conflict("conflict", "The item changed or was already decided; "
                       "nothing was written.")
    for key, value in values.items():
        setattr(item, key, value)
    record_event(session, item.id, "decided", decided_by,
                 {"outcome": outcome, "kind": kind, "reason": reason, **(extra or {})})
    queue_decision_webhook(session, item)
    return item


def apply_auto_decision(item: Item, reasons: list[str]) -> None:
    """Fill decision fields on a new, not yet flushed item the router approved."""
    item.status = "approved"
    item.decision_outcome = "approve"
    item.decision_output = item.output
    item.decided_by = "router"
    item.decided_by_kind = "router"
    item.decided_at = item.created_at
    item.decision_reason = "; ".join(reasons)
