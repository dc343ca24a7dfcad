"""Helpers for the decisions feed tests: a client following the cursor, decisions made
through the real deciding step (optionally on a skewed clock), items to decide.

Each helper that touches the database runs in its own app context, so it never shares
a session (or a transaction) with the test client's requests or with another thread.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import insert
from sqlalchemy.orm import Session

from review.core import clock
from review.core.models import Item, Queue
from review.human import decisions
from review.human.decisions import record_decision
from review.intake.ingest import submit_batch
from tests.adaptive_data import in_app


class Follower:
    """A client of GET /api/v1/decisions that keeps its cursor, as an upstream would."""

    def __init__(self, client: Any, headers: dict[str, str]) -> None:
        self.client, self.headers = client, headers
        self.cursor: str | None = None
        self.seen: list[str] = []

    def page(self, limit: int = 100) -> list[str]:
        query: dict[str, Any] = {"limit": limit}
        if self.cursor:
            query["after"] = self.cursor
        resp = self.client.get("/api/v1/decisions", query_string=query, headers=self.headers)
        assert resp.status_code == 200, resp.get_data(as_text=True)
        body = resp.get_json()
        ids = [item["id"] for item in body["items"]]
        self.seen += ids
        self.cursor = body["next"]
        return ids

    def drain(self, limit: int = 100) -> list[str]:
        got: list[str] = []
        while ids := self.page(limit):
            got += ids
        return got


def is_postgres(app: Flask) -> bool:
    return app.extensions["review.engine"].dialect.name == "postgresql"


def raw_cursor(text: str) -> str:
    """A cursor with this content, encoded as the API encodes its own."""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def pending_items(app: Flask, n: int, queue: str = "support") -> list[str]:
    """n items routed to humans (low confidence), committed."""
    def run(session: Session) -> list[str]:
        results = submit_batch(session, [{"queue": queue, "output": f"answer {i}",
                                          "confidence": 0.1} for i in range(n)], "upstream")
        return [r["id"] for r in results]

    return in_app(app, run)


_skew = threading.local()


def skewed_utcnow() -> datetime:
    """The deciding step's clock: this thread's app server runs `skewed_clock`'s skew off.
    Tests install it as review.human.decisions.utcnow (monkeypatch)."""
    return clock.utcnow() + getattr(_skew, "value", timedelta(0))


@contextmanager
def skewed_clock(skew: timedelta) -> Iterator[None]:
    """Within the block, this thread's decisions are stamped `skew` off (negative: the
    clock is behind). Needs skewed_utcnow installed."""
    _skew.value = skew
    try:
        yield
    finally:
        _skew.value = timedelta(0)


def decide(session: Session, item_id: str, skew: timedelta = timedelta(0)) -> None:
    """Approve a pending item through the one deciding step; no commit."""
    item = session.get(Item, item_id)
    assert item is not None
    assert not skew or decisions.utcnow is skewed_utcnow, "install skewed_utcnow first"
    with skewed_clock(skew):
        record_decision(session, item, outcome="approve", decided_by="ana", kind="reviewer")


def decide_committed(app: Flask, item_id: str, skew: timedelta = timedelta(0)) -> None:
    def run(session: Session) -> None:
        decide(session, item_id, skew)
        session.commit()

    in_app(app, run)


def insert_auto_approved(session: Session, item_id: str, skew: timedelta = timedelta(0),
                         queue: str = "support") -> None:
    """An item the router approved at ingest (the INSERT path), stamped by a clock `skew`
    off; no commit."""
    queue_id = session.query(Queue.id).filter_by(slug=queue).scalar()
    stamp = clock.utcnow() + skew
    session.execute(insert(Item), [dict(
        id=item_id, queue_id=queue_id, submitter="upstream", body_hash="0",
        status="approved", route_path="auto", route_reasons=[], confidence=0.99,
        output="ok", context=[], meta={}, created_at=stamp, decided_at=stamp,
        decided_by="router", decided_by_kind="router", decision_outcome="approve")])
