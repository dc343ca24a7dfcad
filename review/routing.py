"""The router: decide at ingest whether an item is auto-approved, checked or
sent to a human. A pure function of the queue policy and the item, so it can
be replayed and simulated.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from review.validation import validate_output

# Validation failures and audit samples jump ahead of ordinary human work.
VALIDATION_PRIORITY_BOOST = 20
CHECK_FAIL_PRIORITY_BOOST = 15


@dataclass(frozen=True)
class Policy:
    """The routing part of a queue's policy."""

    auto_approve_at: float = 0.9
    review_below: float = 0.6
    audit_rate: float = 0.0
    output_schema: dict | None = None
    blocked_phrases: list[str] = field(default_factory=list)
    max_output_chars: int | None = None
    has_checker: bool = True


@dataclass(frozen=True)
class Route:
    path: str  # "auto" | "check" | "human"
    reasons: list[str]
    audit_sampled: bool = False
    priority_boost: int = 0

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


def route_item(policy: Policy, *, item_id: str, output: Any, confidence: float) -> Route:
    """Route one item. Validation failures never auto-approve."""
    problems = validate_output(
        output,
        output_schema=policy.output_schema,
        blocked_phrases=policy.blocked_phrases,
        max_output_chars=policy.max_output_chars,
    )
    if problems:
        return Route("human", [f"validation: {p}" for p in problems],
                     priority_boost=VALIDATION_PRIORITY_BOOST)
    if confidence >= policy.auto_approve_at:
        if audit_sampled(item_id, policy.audit_rate):
            return Route(
                "human",
                [f"audit sample: confidence {confidence:g} >= {policy.auto_approve_at:g}, "
                 f"sampled at rate {policy.audit_rate:g}"],
                audit_sampled=True,
            )
        return Route("auto", [f"confidence {confidence:g} >= auto_approve_at "
                              f"{policy.auto_approve_at:g}"])
    if confidence < policy.review_below:
        return Route("human", [f"confidence {confidence:g} < review_below "
                               f"{policy.review_below:g}"])
    if not policy.has_checker:
        return Route("human", [f"confidence {confidence:g} is ambiguous and the queue has "
                               "no checker"])
    return Route("check", [f"confidence {confidence:g} between review_below "
                           f"{policy.review_below:g} and auto_approve_at "
                           f"{policy.auto_approve_at:g}"])
