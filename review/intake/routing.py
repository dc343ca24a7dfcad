"""The router: decide at ingest whether an item is auto-approved, checked or
sent to a human. A pure function of the queue policy and the item, so it can
be replayed and simulated.

Adaptive queues (review/adaptive/learning.py) hand in the threshold learned for the
item's model and prompt version, the rollout share and the breaker; when any
of them holds an item back, it goes to a human with `shadow_route` saying
what the router would have done, which is itself evidence.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from review.adaptive.evidence import Version, version_key
from review.adaptive.thresholds import checker_scope, in_live_share, live_share
from review.adaptive.watch import shift_active, valid_threshold, version_row, watch_item
from review.core.clock import utcnow
from review.core.models import Item, LearnedThreshold, Queue
from review.core.settings import settings
from review.core.tracing import span
from review.intake.validation import output_text, validate_output

# Validation failures and check fails jump ahead of ordinary human work; audit samples go
# to the top (priority 100, then oldest first): they are the breaker's evidence, and under a
# backlog evidence that waits behind hundreds of items comes too late to stop anything.
VALIDATION_PRIORITY_BOOST = 20
CHECK_FAIL_PRIORITY_BOOST = 15
AUDIT_PRIORITY_BOOST = 100

# Checkers that judge an output against the item's context; without context they have
# nothing to say, so they gate only items that carry some.
CONTEXT_CHECKERS = frozenset({"grounding"})


@dataclass(frozen=True)
class Policy:
    """The routing part of a queue's policy.

    `auto_approve_at` None means nothing may auto-approve: an adaptive queue
    whose item version has no learned threshold (yet, or any more).
    """

    auto_approve_at: float | None = 0.9
    # An adaptive version whose threshold was withdrawn is shadowed at its last one.
    shadow_threshold: float | None = None
    review_below: float = 0.6
    audit_rate: float = 0.0
    output_schema: dict | None = None
    blocked_phrases: list[str] = field(default_factory=list)
    max_output_chars: int | None = None
    has_checker: bool = True
    adaptive: bool = False
    rollout_stage: str = "100%"
    breaker_open: bool = False
    checker_scope: str = "all"
    checker_needs_context: bool = False
    # Why this item's model version is held for humans after a confidence shift.
    shift_hold: str | None = None


@dataclass(frozen=True)
class Route:
    path: str  # "auto" | "check" | "human"
    reasons: list[str]
    audit_sampled: bool = False
    priority_boost: int = 0
    shadow_route: str | None = None

    @property
    def status(self) -> str:
        return {"auto": "approved", "check": "checking", "human": "pending"}[self.path]


def audit_sampled(item_id: str, audit_rate: float) -> bool:
    """Deterministic by item id, so a replay or a re-route samples the same items."""
    if audit_rate <= 0:
        return False
    if audit_rate >= 1:
        return True
    digest = hashlib.sha256(f"audit:{item_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < audit_rate


@span("review.route")
def route_item(policy: Policy, *, item_id: str, output: Any, confidence: float,
               has_context: bool = True) -> Route:
    """Route one item. Validation failures never auto-approve; with a checker of scope
    "all" nothing is approved without a check pass (`has_context`: whether the item has
    context, which a grounding checker needs)."""
    problems = validate_output(
        output,
        output_schema=policy.output_schema,
        blocked_phrases=policy.blocked_phrases,
        max_output_chars=policy.max_output_chars,
    )
    if problems:
        return Route("human", [f"validation: {p}" for p in problems],
                     priority_boost=VALIDATION_PRIORITY_BOOST)
    live = _live_route(policy, item_id, confidence, has_context)
    held = _held_back(policy, item_id)
    if held is None:
        return live
    if live.path == "human":
        return Route("human", [held, *live.reasons], audit_sampled=live.audit_sampled,
                     priority_boost=live.priority_boost)
    return Route("human", [held, f"would have routed {live.path}: {live.reasons[0]}"],
                 shadow_route=live.path)


def check_gates_confident(policy: Policy, has_context: bool) -> bool:
    """Whether an item at/above the threshold needs a check pass before approval."""
    if not policy.has_checker or policy.checker_scope != "all":
        return False
    return has_context or not policy.checker_needs_context


def _live_route(policy: Policy, item_id: str, confidence: float, has_context: bool) -> Route:
    threshold = policy.auto_approve_at
    name = "learned threshold" if policy.adaptive else "auto_approve_at"
    if threshold is None and policy.shadow_threshold is not None:
        threshold, name = policy.shadow_threshold, "withdrawn threshold"
    if threshold is not None and confidence >= threshold:
        if check_gates_confident(policy, has_context):
            # The check pass is the automatic decision; it is audit-sampled when it passes
            # (review/intake/secondary_check.py), so the item is not sampled twice.
            return Route("check", [f"confidence {confidence:g} >= {name} {threshold:g}; "
                                   "checker scope all: approval needs a check pass"])
        if audit_sampled(item_id, policy.audit_rate):
            return Route(
                "human",
                [f"audit sample: confidence {confidence:g} >= {name} {threshold:g}, "
                 f"sampled at rate {policy.audit_rate:g}"],
                audit_sampled=True, priority_boost=AUDIT_PRIORITY_BOOST,
            )
        return Route("auto", [f"confidence {confidence:g} >= {name} {threshold:g}"])
    if confidence < policy.review_below:
        return Route("human", [f"confidence {confidence:g} < review_below "
                               f"{policy.review_below:g}"])
    if not policy.has_checker:
        return Route("human", [f"confidence {confidence:g} is ambiguous and the queue has "
                               "no checker"])
    upper = f"{name} {threshold:g}" if threshold is not None else "no learned threshold"
    return Route("check", [f"confidence {confidence:g} between review_below "
                           f"{policy.review_below:g} and {upper}"])


def _held_back(policy: Policy, item_id: str) -> str | None:
    """Why an item that would be decided automatically goes to a human instead."""
    if policy.breaker_open:
        return "circuit breaker open: all items to humans"
    if policy.shift_hold is not None:
        return f"shift detected: {policy.shift_hold}"
    if policy.adaptive and policy.auto_approve_at is None:
        if policy.shadow_threshold is not None:
            return ("shadow: this version's threshold was withdrawn, its evidence no longer "
                    "bounds the error rate under the target")
        return "shadow: no evidence yet for this model and prompt version"
    share = live_share(policy.rollout_stage)
    if share <= 0:
        return "shadow mode: routing recorded, every item to humans"
    if not in_live_share(item_id, share):
        return f"rollout at {policy.rollout_stage}: item outside the live share"
    return None


# The router's inputs: a queue's policy, with the threshold learned for the item's version.


def policy_for(queue: Queue, learned: LearnedThreshold | None = None) -> Policy:
    """The router's view of a queue for one version, whose row is `learned` (None: no row,
    so an adaptive queue auto-approves nothing). A version with an active shift is held
    for humans (adaptive queues until post-shift evidence earns a threshold; fixed queues
    with on_shift "hold") and audited at SHIFT_AUDIT_RATE."""
    adaptive = queue.max_error_rate is not None
    threshold = valid_threshold(learned) if adaptive else queue.auto_approve_at
    shifted = shift_active(learned)
    hold = shifted and (threshold is None if adaptive else queue.on_shift != "alert")
    audit_rate = queue.audit_rate
    if shifted:
        audit_rate = max(audit_rate, float(settings().SHIFT_AUDIT_RATE))
    return Policy(
        auto_approve_at=threshold,
        shadow_threshold=learned.last_threshold if adaptive and learned else None,
        review_below=queue.review_below,
        audit_rate=audit_rate,
        output_schema=queue.output_schema,
        blocked_phrases=list(queue.blocked_phrases or []),
        max_output_chars=queue.max_output_chars,
        has_checker=bool(queue.checker),
        checker_scope=checker_scope(queue.checker),
        checker_needs_context=(queue.checker or {}).get("type") in CONTEXT_CHECKERS,
        adaptive=adaptive,
        rollout_stage=queue.rollout_stage,
        breaker_open=queue.breaker_open,
        shift_hold=(learned.shift_reason or "shift") if hold and learned else None,
    )


def item_version(item: Item) -> Version:
    return version_key(item.model_name, item.model_version, item.prompt_version)


def routing_policy(session: Session, queue: Queue, version: Version) -> Policy:
    """The policy the router applies to one item of `queue` from this version (read only:
    the ingest path feeds the shift detector through `route_new_item`)."""
    return policy_for(queue, version_row(session, queue, version))


def route_new_item(session: Session, queue: Queue, item: Item) -> Route:
    """Route an item being ingested (review/intake/ingest.py): feed its version's shift
    detector, then route under the version's policy."""
    row = watch_item(session, queue, item_version(item), float(item.confidence),
                     len(output_text(item.output)), item.created_at or utcnow())
    return route_item(policy_for(queue, row), item_id=item.id, output=item.output,
                      confidence=item.confidence, has_context=bool(item.context))
