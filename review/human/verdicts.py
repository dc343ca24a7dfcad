"""A reviewer's verdict on the item they hold.

`decide_as_reviewer` answers 409 and changes nothing unless the caller holds
a live lease on the item under the token they send. Without consensus the
verdict is final (`record_decision`). With consensus (`required_reviews` > 1)
each verdict is a Review row and the item goes back to the queue for the
next, different reviewer; when the required number agree the item is
decided, and the first disagreement escalates it to a supervisor.

A person has at most one Review row per item. A supervisor who was one of
an escalated item's reviewers settles it all the same: their verdict is the
decision (the item and its `decided` event) and their earlier review stays as
it was.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from review.core.access import reviewable_item
from review.core.clock import utcnow
from review.core.errors import Conflict, DomainError, InvalidInput
from review.core.events import record_event
from review.core.models import Item, ItemEvent, Queue, Review, User
from review.core.tracing import span
from review.human.claims import return_escalated
from review.human.decisions import OUTCOMES, record_decision

MAX_NOTE = 5000


@dataclass
class Verdict:
    outcome: str
    reason: str | None = None
    note: str | None = None
    output: Any = None


@dataclass
class DecisionResult:
    item: Item
    final: bool  # the item is decided
    escalated: bool = False  # consensus disagreed: a supervisor decides
    reviews: int = 1
    required: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {"final": self.final, "escalated": self.escalated,
                "reviews": self.reviews, "required": self.required}


def pretty(value: Any) -> str:
    """Text as it is; anything else as indented JSON (what the reviewer sees and edits)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def edit_diff(before: Any, after: Any) -> str:
    return "\n".join(difflib.unified_diff(
        pretty(before).splitlines(), pretty(after).splitlines(),
        "model output", "edited output", lineterm=""))


def parse_edited_output(original: Any, raw: str) -> Any:
    """The edit form's text: kept as text for a text output, parsed as JSON otherwise."""
    if isinstance(original, str):
        return raw.replace("\r\n", "\n")
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except ValueError as exc:
        raise InvalidInput("invalid_output", f"The edited output is not valid JSON: {exc}") \
            from exc


def _refuse_constant(name: str) -> float:
    raise ValueError(f"non-finite number {name}")


def check_held(item: Item, user: User, lease_token: str | None, now: datetime) -> None:
    """409 unless `user` holds a live lease on `item` under `lease_token`."""
    if item.status in ("approved", "rejected"):
        raise Conflict("already_decided", "The item is already decided; nothing changed.")
    if item.status != "in_review" or item.claimed_by != user.id or not lease_token \
            or item.lease_token != lease_token:
        raise Conflict("not_held", "You do not hold this item (released, reassigned or "
                       "claimed by someone else); nothing changed.")
    if item.lease_expires_at is None or item.lease_expires_at <= now:
        raise Conflict("lease_expired", "Your lease on this item expired; nothing changed.")


def validate_verdict(queue: Queue, verdict: Verdict) -> Verdict:
    if verdict.outcome not in OUTCOMES:
        raise InvalidInput("bad_outcome", f"outcome must be one of {', '.join(OUTCOMES)}")
    reason = (verdict.reason or "").strip() or None
    note = (verdict.note or "").strip() or None
    if note is not None and len(note) > MAX_NOTE:
        raise InvalidInput("note_too_long", f"The note is longer than {MAX_NOTE} characters.")
    if verdict.outcome == "reject":
        reasons = [str(r) for r in (queue.reject_reasons or [])]
        if reason is None:
            raise InvalidInput("reason_required", "A rejection needs a reason.",
                           {"reasons": reasons})
        if reasons and reason not in reasons:
            raise InvalidInput("unknown_reason", f"Reason {reason!r} is not one of this "
                           "queue's reject reasons.", {"reasons": reasons})
    if reason is not None and len(reason) > 200:
        raise InvalidInput("reason_too_long", "The reason is longer than 200 characters.")
    if verdict.outcome == "edit" and verdict.output is None:
        raise InvalidInput("output_required", "An edit needs the edited output.")
    output = verdict.output if verdict.outcome == "edit" else None
    return Verdict(verdict.outcome, reason, note, output)


def _claimed_at(session: Session, item_id: str, actor: str) -> datetime | None:
    return session.scalar(select(func.max(ItemEvent.at)).where(
        ItemEvent.item_id == item_id, ItemEvent.kind == "claimed", ItemEvent.actor == actor))


def _has_reviewed(session: Session, item_id: str, user_id: int) -> bool:
    return session.scalar(select(Review.id).where(
        Review.item_id == item_id, Review.reviewer_id == user_id).limit(1)) is not None


def _agree(a: Review, b: Review) -> bool:
    if a.outcome != b.outcome:
        return False
    return a.outcome != "edit" or pretty(a.output) == pretty(b.output)


@span("review.decide")
def decide_as_reviewer(session: Session, item_id: str, user: User, lease_token: str | None,
                       verdict: Verdict, now: datetime | None = None) -> DecisionResult:
    """Record `user`'s verdict on the item they hold and commit (see module docstring)."""
    now = now or utcnow()
    item = reviewable_item(session, user, item_id)
    session.refresh(item)  # the lease check must see the committed row, not a cached one
    check_held(item, user, lease_token, now)
    queue = item.queue
    verdict = validate_verdict(queue, verdict)
    extra: dict[str, Any] = {}
    if verdict.outcome == "edit":
        extra["diff"] = edit_diff(item.output, verdict.output)
    review = Review(item_id=item.id, queue_id=item.queue_id, reviewer_id=user.id,
                    outcome=verdict.outcome, reason=verdict.reason, note=verdict.note,
                    output=verdict.output, claimed_at=_claimed_at(session, item.id, user.name),
                    created_at=now)
    try:
        if queue.required_reviews > 1 and not item.escalated:
            result = _consensus_step(session, item, user, lease_token or "", review, verdict,
                                     extra, queue.required_reviews, now)
        else:
            record_decision(session, item, outcome=verdict.outcome, decided_by=user.name,
                            kind="reviewer", output=verdict.output, reason=verdict.reason,
                            note=verdict.note, expected_statuses=("in_review",), extra=extra)
            # A second row for the same person would break uq_reviews_item_reviewer and
            # leave the item held and undecided (a 409 on every try) when the one
            # supervisor who may settle it was also one of its reviewers.
            if not _has_reviewed(session, item.id, user.id):
                session.add(review)
            result = DecisionResult(item, final=True)
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict("already_reviewed", "You already reviewed this item.") from exc
    except DomainError:
        session.rollback()
        raise
    session.commit()
    session.refresh(result.item)
    return result


def _consensus_step(session: Session, item: Item, user: User, lease_token: str,
                    review: Review, verdict: Verdict, extra: dict[str, Any],
                    required: int, now: datetime) -> DecisionResult:
    prior = list(session.scalars(select(Review).where(Review.item_id == item.id)
                                 .order_by(Review.id)))
    count = len(prior) + 1
    if any(not _agree(p, review) for p in prior):
        outcomes = [p.outcome for p in prior] + [review.outcome]
        if not return_escalated(session, item, user.name, lease_token, {
                "reason": "consensus disagreement", "outcomes": outcomes, **extra}, now):
            raise Conflict("conflict", "The item changed meanwhile; nothing was written.")
        session.add(review)
        return DecisionResult(item, final=False, escalated=True, reviews=count,
                              required=required)
    if count >= required:
        reviewers = session.scalars(select(User.name).where(
            User.id.in_([p.reviewer_id for p in prior]))).all()
        record_decision(session, item, outcome=verdict.outcome, decided_by=user.name,
                        kind="reviewer", output=verdict.output, reason=verdict.reason,
                        note=verdict.note, expected_statuses=("in_review",),
                        extra={**extra, "consensus": sorted([*reviewers, user.name])})
        session.add(review)
        return DecisionResult(item, final=True, reviews=count, required=required)
    moved = session.execute(
        update(Item).where(Item.id == item.id, Item.version == item.version,
                           Item.status == "in_review", Item.lease_token == lease_token)
        .values(status="pending", claimed_by=None, lease_token=None, lease_expires_at=None,
                version=Item.version + 1)
        .execution_options(synchronize_session=False)
    ).rowcount == 1
    if not moved:
        raise Conflict("conflict", "The item changed meanwhile; nothing was written.")
    record_event(session, item.id, "reviewed", user.name,
                 {"outcome": verdict.outcome, "reviews": count, "required": required, **extra})
    session.add(review)
    return DecisionResult(item, final=False, reviews=count, required=required)
