"""A deterministic week of items (and reviews) for the report tests.

Rows are plain dicts inserted with Core inserts, and the tests recompute
every figure from these same dicts in plain Python: the report SQL and the
expected values share nothing but the raw data.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from review.core.models import Item, Queue, Review, User

REASONS = ("factually wrong", "off-topic", "unsafe", "tone")
# (model_name, model_version, prompt_version, first day offset from the start of the week)
VERSIONS = (("gpt", "1", "p1", 0.0), ("gpt", "2", "p1", 3.0), ("gpt", "2", "p2", 5.0),
            ("claude", None, None, 0.0))
# Decisions land on whole milliseconds, far from any boundary a test could cross.
GUARD = timedelta(minutes=5)


@dataclass
class WeekData:
    now: datetime
    queues: list[Queue]
    reviewers: list[User]
    items: list[dict[str, Any]] = field(default_factory=list)
    reviews: list[dict[str, Any]] = field(default_factory=list)


def _ms(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def generate_week(session: Session, queues: list[Queue], reviewers: list[User], now: datetime,
                  per_queue: int = 300, seed: int = 7, at_risk_ratio: float = 0.8) -> WeekData:
    """Insert `per_queue` items per queue created over the 7 days before `now`."""
    rng = random.Random(seed)
    data = WeekData(_ms(now), queues, reviewers)
    now = data.now
    start = now - timedelta(days=7)
    for queue in queues:
        for n in range(per_queue):
            # A busier last six hours, so the dashboard has a live backlog to show.
            recent = rng.random() < 0.15
            offset = rng.uniform(6 * 86400, 7 * 86400 - 60) if recent else rng.uniform(
                0, 7 * 86400 - 60)
            created = _ms(start + timedelta(seconds=offset))
            row = _item(rng, queue, created, now, f"{queue.slug[:4]}{n:05d}", reviewers,
                        data.reviews, at_risk_ratio)
            data.items.append(row)
    # Per queue, one item nobody picked up: long past due and still waiting.
    for queue in queues:
        forgotten = dict(data.items[0], id=f"forgot{queue.id:04d}", queue_id=queue.id)
        created = now - timedelta(seconds=3 * queue.sla_seconds)
        forgotten.update(created_at=created, due_at=created + timedelta(
            seconds=queue.sla_seconds), confidence=0.2, route_path="human", status="pending",
            sla_state="breached", decided_at=None, decided_by=None, decided_by_kind=None,
            decision_outcome=None, decision_reason=None, check_verdict=None, checked_at=None,
            check_latency_ms=None, check_enqueued_at=None, claimed_by=None,
            lease_expires_at=None)
        data.items.append(forgotten)
    # A version seen for the first time, in one item waiting for a human.
    newest = dict(data.items[-1])
    created = now - timedelta(minutes=30)
    newest.update(id="newversion0001", model_name="gpt", model_version="3", prompt_version="p9",
                  created_at=created, confidence=0.3, route_path="human", status="pending",
                  due_at=created + timedelta(seconds=queues[-1].sla_seconds), sla_state="ok",
                  decided_at=None, decided_by=None, decided_by_kind=None, claimed_by=None,
                  decision_outcome=None, decision_reason=None, check_verdict=None,
                  checked_at=None, check_latency_ms=None, lease_expires_at=None)
    data.items.append(newest)
    session.execute(insert(Item), data.items)
    if data.reviews:
        session.execute(insert(Review), data.reviews)
    session.commit()
    return data


def _version(rng: random.Random, created: datetime, now: datetime) -> tuple:
    day = (created - (now - timedelta(days=7))).total_seconds() / 86400
    eligible = [v for v in VERSIONS if v[3] <= day]
    return rng.choice(eligible)[:3]


def _item(rng: random.Random, queue: Queue, created: datetime, now: datetime, item_id: str,
          reviewers: list[User], reviews: list[dict[str, Any]], ratio: float) -> dict[str, Any]:
    confidence = round(rng.random(), 4)
    name, version, prompt = _version(rng, created, now)
    row: dict[str, Any] = dict(
        id=item_id, queue_id=queue.id, submitter="upstream", body_hash="0" * 64,
        route_reasons=[], audit_sampled=False, output="answer", context=[], meta={},
        confidence=confidence, model_name=name, model_version=version, prompt_version=prompt,
        priority=50, created_at=created, sla_state="ok", escalated=False, version=1,
        check_attempts=0, due_at=None, decided_at=None, decided_by=None, decided_by_kind=None,
        decision_outcome=None, decision_reason=None, check_verdict=None, check_latency_ms=None,
        checked_at=None, check_enqueued_at=None, check_checker=None, claimed_by=None,
        lease_expires_at=None, status="pending")
    if confidence >= 0.9:
        row.update(route_path="auto", status="approved", decision_outcome="approve",
                   decided_by="router", decided_by_kind="router", decided_at=created)
        return row
    human_since = created
    if confidence >= 0.6:
        row["route_path"] = "check"
        latency = rng.uniform(50, 3000)
        checked = _ms(created + timedelta(milliseconds=latency))
        row.update(check_enqueued_at=created)
        if checked > now - GUARD:
            row["status"] = "checking"
            return row
        verdict = rng.choice(("pass", "pass", "fail", "unsure"))
        row.update(check_verdict=verdict, check_latency_ms=latency, checked_at=checked,
                   check_checker="grounding")
        if verdict == "pass":
            row.update(status="approved", decision_outcome="approve", decided_by="checker",
                       decided_by_kind="checker", decided_at=checked)
            return row
        human_since = checked
    else:
        row["route_path"] = "human"
    row["due_at"] = _ms(human_since + timedelta(seconds=queue.sla_seconds))
    wait = timedelta(seconds=rng.expovariate(1 / (queue.sla_seconds * 0.6)))
    decided = _ms(human_since + wait)
    if decided > now - GUARD:
        _leave_open(rng, row, now, reviewers, ratio)
        return row
    outcome = "approve" if rng.random() < confidence else rng.choice(("reject", "reject", "edit"))
    reviewer = rng.choice(reviewers)
    handling = timedelta(seconds=rng.uniform(10, 600))
    claimed = max(human_since, decided - handling)
    reason = rng.choice(REASONS + (None,)) if outcome == "reject" else None
    row.update(status="rejected" if outcome == "reject" else "approved",
               decision_outcome=outcome, decided_by=reviewer.name, decided_by_kind="reviewer",
               decided_at=decided, decision_reason=reason,
               sla_state="breached" if decided > row["due_at"] else "ok")
    reviews.append(dict(item_id=row["id"], queue_id=row["queue_id"], reviewer_id=reviewer.id,
                        outcome=outcome, reason=reason, claimed_at=claimed, created_at=decided))
    return row


def _leave_open(rng: random.Random, row: dict[str, Any], now: datetime, reviewers: list[User],
                ratio: float) -> None:
    """An item still waiting; keep its due time away from `now` so no boundary is close."""
    due = row["due_at"]
    if abs(due - now) < GUARD:
        row["due_at"] = due = now + GUARD * 2
    if rng.random() < 0.3:
        row.update(status="in_review", claimed_by=rng.choice(reviewers).id,
                   lease_expires_at=now + timedelta(minutes=10))
    if due <= now:
        row["sla_state"] = "breached"
    elif row["created_at"] + (due - row["created_at"]) * ratio <= now:
        row["sla_state"] = "at_risk"


def login(client, name: str, password: str = "correct horse") -> None:
    """Sign in through the real login form (with its CSRF token)."""
    import re

    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    resp = client.post("/login", data={"csrf_token": token, "name": name, "password": password})
    assert resp.status_code == 302, resp.get_data(as_text=True)
