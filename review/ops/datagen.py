"""Realistic demo data in bulk: items across a time span, with their audit
events, checks, human reviews and decisions, for demos, benchmarks and report
tests (`review data generate --items N --days D`).

Rows are built in plain Python and written with SQLAlchemy Core multi-row
inserts in chunks, one transaction per chunk (items first, then their events
and reviews), skipping the ORM; the same code runs on SQLite and PostgreSQL.
The figures are plausible rather than exact: confidence drives the route
(each queue's own thresholds), the route drives checks and human review, and
recent items are still waiting. Deterministic for a given `seed` and `now`.
"""

from __future__ import annotations

import hashlib
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Connection, Table, insert, select
from sqlalchemy.orm import Session

from review.core.accounts import create_user
from review.core.clock import utcnow
from review.core.models import Item, ItemEvent, QueueMember, Review, User
from review.core.queues import apply_policy, queue_by_slug, validate_policy

SUBMITTER = "datagen"
# slug -> policy of the queues created when missing (existing queues are used as they are).
QUEUES: dict[str, dict[str, Any]] = {
    "support": {"name": "Support answers", "auto_approve_at": 0.9, "review_below": 0.6,
                "audit_rate": 0.05, "sla_seconds": 1800,
                "checker": {"type": "grounding", "threshold": 0.8}},
    "billing": {"name": "Billing replies", "auto_approve_at": 0.93, "review_below": 0.7,
                "audit_rate": 0.02, "sla_seconds": 3600,
                "checker": {"type": "policy"}},
    "safety": {"name": "Safety escalations", "auto_approve_at": 0.97, "review_below": 0.8,
               "audit_rate": 0.1, "sla_seconds": 900},
}
# (model name, version, prompt version, share of the span before it appears)
MODELS = (("gpt", "4", "p1", 0.0), ("gpt", "4", "p2", 0.4), ("gpt", "5", "p2", 0.7),
          ("claude", "3", "p1", 0.0))
QUESTIONS = ("Where is my refund?", "Can I change my plan?", "Why was I charged twice?",
             "How do I reset my password?", "Is my data shared with third parties?",
             "When does my order ship?", "Can I get an invoice for last month?")
ANSWERS = ("Your refund was sent on {d} and arrives within 5 days.",
           "You can change your plan under Settings > Billing at any time.",
           "The second charge is a pending authorisation and disappears within 3 days.",
           "Use the 'Forgot password' link on the login page; the link is valid for 1 hour.",
           "We do not share personal data with third parties except payment processors.",
           "Your order ships on {d}.", "Invoices are under Account > Invoices.")
REJECT_REASONS = ("incorrect", "unsupported by sources", "policy violation", "formatting")
EVENT_COLUMNS = ("item_id", "kind", "actor", "at", "data")


@dataclass
class Summary:
    items: int = 0
    events: int = 0
    reviews: int = 0
    queues: int = 0
    reviewers: int = 0
    seconds: float = 0.0


@dataclass
class _QueueInfo:
    id: int
    slug: str
    auto_approve_at: float
    review_below: float
    audit_rate: float
    sla_seconds: int
    has_checker: bool
    reviewers: list[tuple[int, str]]


def ensure_queues_and_reviewers(session: Session, reviewers_per_queue: int,
                                rng: random.Random) -> tuple[list[_QueueInfo], int]:
    """The demo queues (created when missing) and a few reviewers in each."""
    infos, created_users = [], 0
    for slug, spec in QUEUES.items():
        queue = queue_by_slug(session, slug)
        if queue is None:
            apply_policy(session, slug, validate_policy(slug, spec), actor="datagen")
            queue = queue_by_slug(session, slug)
        members = []
        for n in range(1, reviewers_per_queue + 1):
            name = f"{slug}-reviewer-{n:02d}"
            user = session.scalar(select(User).where(User.name == name))
            if user is None:
                user = create_user(session, name, secrets.token_urlsafe(16), "reviewer")
                created_users += 1
            if session.get(QueueMember, (queue.id, user.id)) is None:
                session.add(QueueMember(queue_id=queue.id, user_id=user.id, tags=[]))
            members.append((user.id, user.name))
        infos.append(_QueueInfo(queue.id, slug, queue.auto_approve_at, queue.review_below,
                                queue.audit_rate, queue.sla_seconds, bool(queue.checker),
                                members))
    session.commit()
    return infos, created_users


class _Builder:
    """Turns one random draw into an item row plus its events and reviews."""

    def __init__(self, rng: random.Random, now: datetime, start: datetime) -> None:
        self.rng, self.now, self.start = rng, now, start
        self.span = (now - start).total_seconds()

    def _id(self, created: datetime) -> str:
        millis = int(created.timestamp() * 1000)
        return f"{millis:012x}{self.rng.getrandbits(80):020x}"

    def _model(self, created: datetime) -> tuple[str, str, str]:
        share = (created - self.start).total_seconds() / self.span if self.span else 1.0
        live = [m for m in MODELS if m[3] <= share]
        name, version, prompt, _ = self.rng.choice(live)
        return name, version, prompt

    def build(self, queue: _QueueInfo, created: datetime
              ) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
        rng = self.rng
        item_id = self._id(created)
        # Two populations: outputs the model is sure of, and the rest.
        sure = rng.random() < 0.55
        confidence = round(rng.betavariate(14, 1.1) if sure else rng.betavariate(4, 2.2), 4)
        topic = rng.randrange(len(QUESTIONS))
        output = ANSWERS[topic].format(d=(created + timedelta(days=2)).strftime("%d %B"))
        name, version, prompt = self._model(created)
        row: dict[str, Any] = {
            "id": item_id, "queue_id": queue.id, "submitter": SUBMITTER,
            "external_id": None, "body_hash": hashlib.sha256(item_id.encode()).hexdigest(),
            "input": {"question": QUESTIONS[topic]}, "output": output,
            "context": [f"Policy excerpt {topic}: {ANSWERS[topic][:60]}"],
            "confidence": confidence, "model_name": name, "model_version": version,
            "prompt_version": prompt, "priority": 50, "metadata": {"generated": True},
            "callback_url": None, "created_at": created, "due_at": None, "sla_state": "ok",
            "escalated": False, "audit_sampled": False, "version": 1, "check_attempts": 0,
            "status": "pending",
        }
        events = [self._event(item_id, "ingested", SUBMITTER, created,
                              {"confidence": confidence})]
        reviews: list[dict[str, Any]] = []
        # Route with the queue's own thresholds (validation failures are rare).
        if rng.random() < 0.02:
            path, reasons, boost = "human", ["validation: blocked phrase: 'guaranteed'"], 20
        elif confidence >= queue.auto_approve_at:
            if rng.random() < queue.audit_rate:
                row["audit_sampled"] = True
                path, reasons, boost = "human", [f"audit sample at rate {queue.audit_rate:g}"], 0
            else:
                path, reasons, boost = "auto", [f"confidence {confidence:g} >= auto_approve_at "
                                               f"{queue.auto_approve_at:g}"], 0
        elif confidence < queue.review_below or not queue.has_checker:
            path, reasons, boost = "human", [f"confidence {confidence:g} < review_below "
                                             f"{queue.review_below:g}"], 0
        else:
            path, reasons, boost = "check", [f"confidence {confidence:g} is ambiguous"], 0
        row.update(route_path=path, route_reasons=reasons, priority=50 + boost)
        events.append(self._event(item_id, "routed", "router", created,
                                  {"path": path, "reasons": reasons,
                                   "audit_sampled": row["audit_sampled"]}))
        if path == "auto":
            self._decide(row, events, "approve", "router", "router", created, reasons[0])
            return row, events, reviews
        if path == "check":
            checked = created + timedelta(seconds=rng.uniform(0.3, 8))
            if checked > self.now:
                row["status"] = "checking"
                return row, events, reviews
            verdict = rng.choices(("pass", "fail", "unsure", "error"), (60, 25, 12, 3))[0]
            score = round(rng.uniform(0.8, 1) if verdict == "pass" else rng.uniform(0, 0.8), 3)
            row.update(check_attempts=1, check_checker="grounding", check_verdict=verdict,
                       check_score=score, check_reason=f"{score:.0%} supported",
                       check_latency_ms=round(rng.lognormvariate(5.5, 0.6), 1),
                       checked_at=checked, check_enqueued_at=created)
            events.append(self._event(item_id, "checked", "checker", checked,
                                      {"checker": "grounding", "verdict": verdict,
                                       "score": score}))
            if verdict == "pass":
                self._decide(row, events, "approve", "checker", "checker", checked,
                             "check pass (grounding)")
                return row, events, reviews
            if verdict == "fail":
                row["priority"] = 65
            created = checked  # the human part starts here
        self._human(queue, row, events, reviews, created)
        return row, events, reviews

    def _human(self, queue: _QueueInfo, row: dict[str, Any], events: list, reviews: list,
               since: datetime) -> None:
        rng = self.rng
        due = row["created_at"] + timedelta(seconds=queue.sla_seconds)
        row["due_at"] = due
        # Most items are decided well inside the SLA; a tail is late.
        wait = rng.lognormvariate(0, 0.9) * queue.sla_seconds * 0.3
        claimed = since + timedelta(seconds=wait)
        handling = timedelta(seconds=rng.lognormvariate(4.2, 0.7))  # about a minute
        decided = claimed + handling
        reviewer_id, reviewer = rng.choice(queue.reviewers)
        if claimed > self.now:
            self._sla_open(row, due)
            return
        events.append(self._event(row["id"], "claimed", reviewer, claimed,
                                  {"user_id": reviewer_id}))
        if decided > self.now:
            row.update(status="in_review", claimed_by=reviewer_id,
                       lease_token=secrets.token_hex(8),
                       lease_expires_at=claimed + timedelta(minutes=15))
            self._sla_open(row, due)
            return
        low = row["confidence"] < queue.review_below
        outcome = rng.choices(("approve", "reject", "edit"),
                              (55, 30, 15) if low else (80, 10, 10))[0]
        reason = rng.choice(REJECT_REASONS) if outcome == "reject" else None
        edited = row["output"] + " (edited)" if outcome == "edit" else None
        reviews.append({"item_id": row["id"], "queue_id": queue.id, "reviewer_id": reviewer_id,
                        "outcome": outcome, "reason": reason, "note": None, "output": edited,
                        "claimed_at": claimed, "created_at": decided})
        events.append(self._event(row["id"], "reviewed", reviewer, decided,
                                  {"outcome": outcome, "reviews": 1, "required": 1}))
        self._decide(row, events, outcome, reviewer, "reviewer", decided, reason, edited)
        row["sla_state"] = "breached" if decided > due else "ok"

    def _sla_open(self, row: dict[str, Any], due: datetime) -> None:
        total = (due - row["created_at"]).total_seconds()
        elapsed = (self.now - row["created_at"]).total_seconds()
        row["sla_state"] = ("breached" if self.now > due
                            else "at_risk" if elapsed >= 0.8 * total else "ok")

    def _decide(self, row: dict[str, Any], events: list, outcome: str, by: str, kind: str,
                at: datetime, reason: str | None, edited: Any = None) -> None:
        final = edited if outcome == "edit" else (row["output"] if outcome == "approve" else None)
        row.update(status="rejected" if outcome == "reject" else "approved",
                   decision_outcome=outcome, decision_output=final, decision_reason=reason,
                   decided_by=by, decided_by_kind=kind, decided_at=at,
                   version=row["version"] + 1)
        events.append(self._event(row["id"], "decided", by, at,
                                  {"outcome": outcome, "kind": kind, "reason": reason}))

    @staticmethod
    def _event(item_id: str, kind: str, actor: str, at: datetime,
               data: dict[str, Any]) -> dict[str, Any]:
        return {"item_id": item_id, "kind": kind, "actor": actor, "at": at, "data": data}


# Every item row carries every column, so one multi-row INSERT fits all rows.
_ITEM_DEFAULTS = {c.name: None for c in Item.__table__.columns}
_REVIEW_DEFAULTS = {c.name: None for c in Review.__table__.columns if c.name != "id"}


def generate(session: Session, *, items: int, days: float, seed: int | None = None,
             now: datetime | None = None, reviewers_per_queue: int = 3, chunk: int = 5000,
             progress: Callable[[int], None] | None = None) -> Summary:
    """Insert `items` items spread over the last `days` days; return what was written."""
    if items < 0 or days <= 0:
        raise ValueError("items must be >= 0 and days > 0")
    started = time.perf_counter()
    rng = random.Random(seed)
    now = now or utcnow()
    start = now - timedelta(days=days)
    summary = Summary()
    queues, summary.reviewers = ensure_queues_and_reviewers(session, reviewers_per_queue, rng)
    summary.queues = len(queues)
    weights = [5, 3, 1][:len(queues)] + [1] * max(0, len(queues) - 3)
    builder = _Builder(rng, now, start)
    span = (now - start).total_seconds()
    connection = session.connection()
    done = 0
    while done < items:
        size = min(chunk, items - done)
        offsets = sorted(rng.uniform(0, span) for _ in range(size))
        rows, events, reviews = [], [], []
        for offset in offsets:
            queue = rng.choices(queues, weights)[0]
            row, row_events, row_reviews = builder.build(
                queue, _ms(start + timedelta(seconds=offset)))
            rows.append({**_ITEM_DEFAULTS, **row})
            events.extend(row_events)
            reviews.extend({**_REVIEW_DEFAULTS, **r} for r in row_reviews)
        write = _copy if connection.dialect.name == "postgresql" else _insert
        write(connection, Item.__table__, rows)
        write(connection, ItemEvent.__table__, events)
        if reviews:
            write(connection, Review.__table__, reviews)
        session.commit()
        connection = session.connection()
        done += size
        summary.items += size
        summary.events += len(events)
        summary.reviews += len(reviews)
        if progress:
            progress(size)
    summary.seconds = time.perf_counter() - started
    return summary


def _insert(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Core multi-row INSERT (executemany): every dialect."""
    connection.execute(insert(table), rows)


def _copy(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """PostgreSQL COPY FROM STDIN through psycopg: several times faster than INSERT."""
    from psycopg.types.json import Jsonb  # here: only the PostgreSQL COPY path needs psycopg

    columns = list(rows[0])
    json_columns = {c.name for c in table.columns if isinstance(c.type, JSON)}
    wrap = [name in json_columns for name in columns]
    names = ", ".join(f'"{name}"' for name in columns)
    cursor = connection.connection.driver_connection.cursor()
    try:
        with cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row([Jsonb(row[name]) if is_json and row[name] is not None
                                else row[name]
                                for name, is_json in zip(columns, wrap, strict=True)])
    finally:
        cursor.close()


def _ms(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def describe(summary: Summary) -> str:
    rate = summary.items / summary.seconds if summary.seconds else 0
    return (f"generated {summary.items} items, {summary.events} events, {summary.reviews} "
            f"reviews in {summary.queues} queues ({summary.reviewers} new reviewers) in "
            f"{summary.seconds:.1f} s ({rate:,.0f} items/s)")
