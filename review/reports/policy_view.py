"""A queue's policy in plain words, for the manage page's Policy tab and the admin's
queue policies page: each setting as a label, what it does here, and its raw value."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from review.core.models import Queue, QueueMember
from review.core.queues import POLICY_FIELDS


def _minutes(seconds: int | None) -> str:
    if seconds is None:
        return "the default"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds / 60:g} min"


def _routing(queue: Queue) -> str:
    if queue.max_error_rate is not None:
        return (f"learned per model version: auto-approve where at most "
                f"{queue.max_error_rate:.1%} of approvals would be wrong "
                f"({queue.confidence_level:.0%} confidence); below "
                f"{queue.review_below:g} always goes to a person")
    checker = " (a secondary check in between)" if queue.checker else ""
    return (f"auto-approve at confidence ≥ {queue.auto_approve_at:g}; a person reviews "
            f"below {queue.review_below:g}{checker}")


def policy_summary(queue: Queue) -> list[dict[str, str]]:
    """Rows of {label, text, field}: the policy of `queue` as a person reads it."""
    rows = [
        ("Routing", _routing(queue), "auto_approve_at"),
        ("Spot checks", f"{queue.audit_rate:.0%} of auto-approved items also go to a person",
         "audit_rate"),
        ("SLA", f"a decision within {_minutes(queue.sla_seconds)} of arrival", "sla_seconds"),
        ("Reviews per item", f"{queue.required_reviews} "
         + ("(consensus of several reviewers)" if queue.required_reviews > 1 else
            "(one reviewer decides)"), "required_reviews"),
        ("Lease", f"a reviewer holds an item for {_minutes(queue.lease_seconds)} "
         "before it returns to the queue", "lease_seconds"),
        ("Backlog cap", "none" if queue.backlog_cap is None else
         f"{queue.backlog_cap} waiting items; beyond it ingest does: {queue.overflow}",
         "backlog_cap"),
        ("Reject reasons", ", ".join(str(r) for r in queue.reject_reasons or []) or "none",
         "reject_reasons"),
        ("Blocked phrases", f"{len(queue.blocked_phrases or [])} phrase(s) send an item to a "
         "person whatever its confidence", "blocked_phrases"),
        ("Output limit", "none" if queue.max_output_chars is None else
         f"{queue.max_output_chars} characters", "max_output_chars"),
        ("Output schema", "checked" if queue.output_schema else "none", "output_schema"),
        ("Secondary check", (queue.checker or {}).get("type", "configured")
         if queue.checker else "none", "checker"),
        ("Decision webhook", queue.webhook_url or "none (the submitter's callback only)",
         "webhook_url"),
    ]
    return [{"label": label, "text": text, "field": field} for label, text, field in rows]


def raw_policy(queue: Queue) -> list[tuple[str, Any]]:
    """Every policy field and its current value, in the policy file's order."""
    return [(field, getattr(queue, field)) for field in POLICY_FIELDS]


def queue_policies(session: Session) -> list[dict[str, Any]]:
    """Every queue with its policy summary and member count, by slug."""
    counts = dict(session.execute(
        select(QueueMember.queue_id, func.count()).group_by(QueueMember.queue_id)).all())
    return [{"queue": q, "summary": policy_summary(q), "members": counts.get(q.id, 0)}
            for q in session.scalars(select(Queue).order_by(Queue.slug))]
