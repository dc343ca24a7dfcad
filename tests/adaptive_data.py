"""Human decisions inserted as decided items, and a real learning pass over them, so the
adaptive-routing surfaces (API, web, CLI) have state to show.

Each helper runs in its own app context: the `db` fixture's context would be shared
by the test client's requests (and with it the session and Flask-WTF's token).
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import insert, select

from review.core.clock import utcnow
from review.core.models import Item, PolicyChange, Queue


def in_app(app: Flask, fn):  # noqa: ANN001, ANN201 - fn(session) -> anything
    from review.core.db import get_session

    with app.app_context():
        return fn(get_session())


def seed_decisions(app: Flask, slug: str, n: int, *, model_version: str | None,
                   prompt_version: str | None, confidence: float = 0.99,
                   outcome: str = "approve", audit_sampled: bool = False) -> None:
    """`n` items of one version, decided by a reviewer in the last hour."""
    def insert_rows(session) -> None:  # noqa: ANN001
        queue = session.scalar(select(Queue).where(Queue.slug == slug))
        now = utcnow()
        rows: list[dict[str, Any]] = []
        for i in range(n):
            item_id = uuid.uuid4().hex
            decided = now - timedelta(minutes=30, seconds=i)
            rows.append(dict(
                id=item_id, queue_id=queue.id, submitter="upstream",
                body_hash=hashlib.sha256(item_id.encode()).hexdigest(),
                status="approved" if outcome == "approve" else "rejected",
                route_path="human", route_reasons=[], audit_sampled=audit_sampled,
                output="ok", context=[], confidence=confidence, model_name="m",
                model_version=model_version, prompt_version=prompt_version, meta={},
                created_at=decided - timedelta(minutes=5), due_at=decided,
                decision_outcome=outcome, decided_by="rita", decided_by_kind="reviewer",
                decided_at=decided))
        session.execute(insert(Item), rows)
        session.commit()

    in_app(app, insert_rows)


def learn(app: Flask, slug: str) -> dict[str, Any]:
    """One real learning pass (review.adaptive.learning.refresh_queue) over the queue."""
    from review.adaptive.learning import refresh_queue

    return in_app(app, lambda s: refresh_queue(
        s, s.scalar(select(Queue).where(Queue.slug == slug))))


def queue_named(app: Flask, slug: str) -> Queue:
    return in_app(app, lambda s: s.scalar(select(Queue).where(Queue.slug == slug)))


def policy_changes(app: Flask, slug: str) -> list[PolicyChange]:
    return in_app(app, lambda s: list(s.scalars(
        select(PolicyChange).join(Queue, Queue.id == PolicyChange.queue_id)
        .where(Queue.slug == slug).order_by(PolicyChange.id))))


def trip_breaker(app: Flask, slug: str) -> None:
    """Audited automatic decisions that humans rejected: the learner trips the breaker."""
    seed_decisions(app, slug, 25, model_version="bad", prompt_version="p1",
                   outcome="reject", audit_sampled=True)
    assert learn(app, slug)["breaker"]["open"] is True
