"""Ingest: validate, store and route submitted items, idempotently.

Idempotency rests on the unique constraint (submitter, queue, external_id),
never on check-then-insert: concurrent replays race on the constraint and the
loser reads the winner's row.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from review.core.clock import utcnow
from review.core.db import after_commit
from review.core.errors import Conflict, DomainError, InvalidInput
from review.core.events import event_row, insert_events
from review.core.models import Item, Queue
from review.core.netguard import UnsafeUrl, check_url
from review.core.settings import settings
from review.core.tracing import ingest_trace, span
from review.human.decisions import apply_auto_decision
from review.intake.budget import EXHAUSTED_REASON, exhausted
from review.intake.normalise import DEFAULTS, body_hash, hash_matches
from review.intake.overflow import Shedding
from review.intake.routing import route_new_item
from review.intake.schemas import ITEM_IN, validation_errors
from review.intake.secondary_check import enqueue_check
from review.reports.overload import BacklogState, backlog_state
from review.webhooks.outbox import queue_decision_webhook


@dataclass
class IngestResult:
    item: Item
    created: bool
    # The queue's backlog after this request (what upstream is told), and how the
    # overflow policy treated the item: None, "fallback" (or "accepted" over the cap).
    backlog: BacklogState | None = None
    overflow: str | None = None


@dataclass
class BatchOutcome:
    results: list[dict[str, Any]]
    backlog: dict[str, BacklogState] = field(default_factory=dict)
    shed: dict[tuple[str, str], int] = field(default_factory=dict)


def new_item_id() -> str:
    """Time-ordered, unguessable: 12 hex digits of milliseconds + 80 random bits."""
    return f"{int(time.time() * 1000):012x}{secrets.token_hex(10)}"


def validate_payload(payload: Any, queues: dict[str, Queue]) -> Queue:
    """Raise a domain error for anything wrong with one item payload."""
    if not isinstance(payload, dict):
        raise InvalidInput("validation_failed", "An item must be a JSON object.")
    problems = validation_errors(ITEM_IN, payload)
    if problems:
        raise InvalidInput("validation_failed", "The item is invalid.", problems)
    queue = queues.get(payload["queue"])
    if queue is None:
        raise InvalidInput("unknown_queue", f"No queue {payload['queue']!r}.",
                       [{"path": "queue", "message": "unknown queue"}])
    url = payload.get("callback_url")
    if url:
        try:
            # No DNS here (hot path); deliveries check the resolved address again.
            check_url(url, settings().ALLOWED_CALLBACK_HOSTS, resolve=False)
        except UnsafeUrl as exc:
            raise InvalidInput("unsafe_callback_url", str(exc),
                           [{"path": "callback_url", "message": str(exc)}]) from exc
    return queue


def _queue_slug(payload: Any) -> str | None:
    if isinstance(payload, dict) and isinstance(payload.get("queue"), str):
        return payload["queue"]
    return None


def load_queues(session: Session, slugs: set[str]) -> dict[str, Queue]:
    rows = session.scalars(select(Queue).where(Queue.slug.in_(slugs))) if slugs else []
    return {q.slug: q for q in rows}


def build_item(session: Session, payload: dict[str, Any], queue: Queue, submitter: str,
               digest: str, budget_memo: dict[int, float] | None = None) -> Item:
    """A new routed item, not yet added to the session (`_stage` does that). An item for
    the check goes to a human while the queue's checker budget is spent (budget.py)."""
    now = utcnow()
    model = payload.get("model") or {}
    usage = payload.get("usage") or {}
    item = Item(
        id=new_item_id(),
        queue_id=queue.id,
        queue=queue,
        submitter=submitter,
        external_id=payload.get("external_id"),
        body_hash=digest,
        input=payload.get("input"),
        output=payload["output"],
        context=payload.get("context") or [],
        confidence=float(payload["confidence"]),
        model_name=model.get("name"),
        model_version=model.get("version"),
        prompt_version=payload.get("prompt_version"),
        priority=payload.get("priority", DEFAULTS["priority"]),
        meta=payload.get("metadata") or {},
        callback_url=payload.get("callback_url"),
        created_at=now,
        sla_state="ok",
        escalated=False,
        version=1,
        check_attempts=0,
        usage_input_tokens=usage.get("input_tokens"),
        usage_output_tokens=usage.get("output_tokens"),
        usage_cost=usage.get("cost"),
    )
    route = route_new_item(session, queue, item)
    item.route_path = route.path
    item.route_reasons = route.reasons
    item.audit_sampled = route.audit_sampled
    item.shadow_route = route.shadow_route
    item.status = route.status
    item.priority = min(100, item.priority + route.priority_boost)
    skipped = exhausted(session, queue, now, budget_memo) if route.path == "check" else None
    if skipped:
        item.route_path, item.status = "human", "pending"
        item.route_reasons = [*route.reasons, skipped]
    if item.route_path == "auto":
        apply_auto_decision(item, route.reasons)
    elif item.route_path == "human":
        item.due_at = now + timedelta(seconds=queue.sla_seconds)
    else:
        item.check_enqueued_at = now
    return item


def _stage(session: Session, item: Item, actor: str) -> list[dict[str, Any]]:
    """Add the item (and its webhook); return its audit events for `_write`."""
    session.add(item)
    events = [
        event_row(item.id, "ingested", actor, {"confidence": item.confidence, **ingest_trace()}),
        event_row(item.id, "routed", "router", {
            "path": item.route_path, "reasons": item.route_reasons,
            "audit_sampled": item.audit_sampled, "shadow_route": item.shadow_route}),
    ]
    if item.route_path == "auto":
        if item.decided_by == "overflow":
            events.append(event_row(item.id, "overflow", "router", {
                "policy": "fallback", "reason": item.decision_reason,
                "audit_sampled": item.audit_sampled}))
        events.append(event_row(item.id, "decided", item.decided_by or "router",
                                {"outcome": item.decision_outcome, "kind": "router",
                                 "reason": item.decision_reason}))
        queue_decision_webhook(session, item)
    elif item.route_path == "check":
        after_commit(session, enqueue_check, item.id, item.queue.checker)
    if any(str(r).startswith(EXHAUSTED_REASON) for r in item.route_reasons or []):
        events.append(event_row(item.id, "checker_skipped", "router", {
            "reason": EXHAUSTED_REASON, "budget": item.queue.checker_daily_budget}))
    return events


def _write(session: Session, events: list[dict[str, Any]]) -> None:
    """Flush the staged items, then their events (which reference them), then commit."""
    session.flush()
    insert_events(session, events)
    session.commit()


def _replay(existing: Item, payload: dict[str, Any], digest: str) -> IngestResult:
    if not hash_matches(existing.body_hash, payload, digest):
        raise Conflict("idempotency_conflict",
                       "An item with this external_id exists with a different body.",
                       {"item_id": existing.id})
    return IngestResult(existing, created=False)


def _find_existing(
    session: Session, submitter: str, queue_id: int, external_id: str
) -> Item | None:
    return session.scalar(select(Item).where(
        Item.submitter == submitter, Item.queue_id == queue_id,
        Item.external_id == external_id))


@span("review.ingest")
def submit_item(session: Session, payload: Any, submitter: str) -> IngestResult:
    """Store one item (or return the replayed one) and commit; the answer carries the
    queue's backlog. A queue whose overflow policy refuses it raises RateLimited
    (`queue_overloaded`) with nothing stored but the refusal's audit row."""
    result = _submit_item(session, payload, submitter)
    if result.backlog is None:
        result.backlog = backlog_state(session, result.item.queue, utcnow())
    return result


def _submit_item(session: Session, payload: Any, submitter: str) -> IngestResult:
    slug = _queue_slug(payload)
    queues = load_queues(session, {slug} if slug else set())
    queue = validate_payload(payload, queues)
    digest = body_hash(payload)
    external_id = payload.get("external_id")
    if external_id is not None:
        existing = _find_existing(session, submitter, queue.id, external_id)
        if existing is not None:
            return _replay(existing, payload, digest)
    item = build_item(session, payload, queue, submitter, digest)
    shedding = Shedding(item.created_at)
    action = shedding.judge(session, item, queue)
    shedding.record(session, submitter)
    if action == "reject":
        session.commit()  # the refusal's audit row and alert; the item is not stored
        raise shedding.refusal(queue)
    try:
        _write(session, _stage(session, item, submitter))
    except IntegrityError:
        session.rollback()
        existing = _find_existing(session, submitter, queue.id, external_id) if external_id \
            else None
        if existing is None:
            raise
        return _replay(existing, payload, digest)
    accepted = bool(shedding.counts.get((queue.slug, "accepted")))
    return IngestResult(item, created=True, backlog=shedding.states.get(queue.id),
                        overflow=action or ("accepted" if accepted else None))


def submit_batch(session: Session, payloads: list[Any], submitter: str) -> list[dict[str, Any]]:
    """Store every valid item of a batch; one result per input, in order."""
    return submit_batch_outcome(session, payloads, submitter).results


def submit_batch_outcome(session: Session, payloads: list[Any], submitter: str
                         ) -> BatchOutcome:
    """`submit_batch` with the backlog of each queue named and what overflow shed."""
    queues = load_queues(session, {s for s in map(_queue_slug, payloads) if s})
    shedding = Shedding(utcnow())
    budget_memo: dict[int, float] = {}
    results: list[dict[str, Any] | None] = [None] * len(payloads)
    fresh: dict[tuple[int, str | None], tuple[int, Item]] = {}
    keyed: dict[tuple[int, str], list[int]] = {}
    prepared: list[tuple[int, dict[str, Any], Queue, str]] = []
    for index, payload in enumerate(payloads):
        try:
            queue = validate_payload(payload, queues)
        except DomainError as exc:
            results[index] = _error_result(index, exc)
            continue
        digest = body_hash(payload)
        prepared.append((index, payload, queue, digest))
        if payload.get("external_id") is not None:
            keyed.setdefault((queue.id, payload["external_id"]), []).append(index)
    existing = _existing_for_batch(session, submitter, keyed)
    new_items: list[tuple[int, Item]] = []
    # The entries whose answer names an item of this transaction: created, or a
    # duplicate (replay or conflict) of one created earlier in the batch.
    provisional: list[int] = []
    for index, payload, queue, digest in prepared:
        key = (queue.id, payload.get("external_id"))
        prior = existing.get(key) if key[1] is not None else None
        if prior is None and key[1] is not None and key in fresh:
            prior = fresh[key][1]
            provisional.append(index)
        if prior is not None:
            try:
                _replay(prior, payload, digest)
                results[index] = {"index": index, "result": "replayed", "id": prior.id,
                                  "status": prior.status}
            except DomainError as exc:
                results[index] = _error_result(index, exc)
            continue
        item = build_item(session, payload, queue, submitter, digest, budget_memo)
        action = shedding.judge(session, item, queue)
        if action == "reject":
            results[index] = _error_result(index, shedding.refusal(queue))
            continue
        fresh[key if key[1] is not None else (queue.id, item.id)] = (index, item)
        new_items.append((index, item))
        provisional.append(index)
    # Insert in one canonical order: two batches holding the same external_ids in other
    # orders would each wait on a row the other inserted (a deadlock on PostgreSQL).
    staged = {index: _stage(session, item, submitter) for index, item in
              sorted(new_items, key=lambda pair: (pair[1].queue_id, pair[1].external_id or "",
                                                  pair[1].id))}
    events = [e for index, _item in new_items for e in staged[index]]
    shedding.record(session, submitter)
    try:
        _write(session, events)
    except IntegrityError:
        # A concurrent request won a race on some external_id: fall back to
        # one transaction per item, each resolving its own replay. The rollback
        # unmade every id this transaction gave out, so the duplicates of new items
        # are redone too (in batch order, after the item they repeat), or they would
        # answer an id that does not exist.
        session.rollback()
        for index in provisional:
            results[index] = _one_by_one(session, payloads[index], submitter, index)
        return _batch_outcome(session, queues, results, Shedding(utcnow()))
    for index, item in new_items:
        results[index] = {"index": index, "result": "created", "id": item.id,
                          "status": item.status}
        if item.decided_by == "overflow":
            results[index]["overflow"] = "fallback"
    return _batch_outcome(session, queues, results, shedding)


def _batch_outcome(session: Session, queues: dict[str, Queue],
                   results: list[dict[str, Any] | None], shedding: Shedding) -> BatchOutcome:
    """The answer, with the backlog of every queue the batch named (measured if this
    request did not already)."""
    backlog = {}
    for queue in queues.values():
        backlog[queue.slug] = shedding.state(session, queue)
    return BatchOutcome([r for r in results if r is not None], backlog, dict(shedding.counts))


def _one_by_one(session: Session, payload: Any, submitter: str, index: int) -> dict[str, Any]:
    try:
        outcome = submit_item(session, payload, submitter)
    except DomainError as exc:
        return _error_result(index, exc)
    return {"index": index, "result": "created" if outcome.created else "replayed",
            "id": outcome.item.id, "status": outcome.item.status}


def _existing_for_batch(
    session: Session, submitter: str, keyed: dict[tuple[int, str], list[int]]
) -> dict[tuple[int, str | None], Item]:
    if not keyed:
        return {}
    found: dict[tuple[int, str | None], Item] = {}
    by_queue: dict[int, list[str]] = {}
    for queue_id, external_id in keyed:
        by_queue.setdefault(queue_id, []).append(external_id)
    for queue_id, external_ids in by_queue.items():
        rows = session.scalars(select(Item).where(
            Item.submitter == submitter, Item.queue_id == queue_id,
            Item.external_id.in_(external_ids)))
        for item in rows:
            found[(queue_id, item.external_id)] = item
    return found


def _error_result(index: int, exc: DomainError) -> dict[str, Any]:
    # The refusal itself: the API edge gives it its status code and JSON shape.
    return {"index": index, "result": "error", "error": exc}
