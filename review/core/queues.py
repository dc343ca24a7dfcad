"""Queue policies: defaults, validation, apply from a file, export, history."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import yaml
from flask import has_app_context
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from sqlalchemy import select
from sqlalchemy.orm import Session

from review.core.clock import utcnow
from review.core.models import PolicyChange, Queue
from review.core.settings import settings

POLICY_FIELDS: dict[str, Any] = {
    "name": None,
    "auto_approve_at": 0.9,
    "review_below": 0.6,
    "audit_rate": 0.05,
    "sla_seconds": 3600,
    "output_schema": None,
    "blocked_phrases": [],
    "max_output_chars": None,
    "checker": None,
    "webhook_url": None,
    "reject_reasons": ["incorrect", "unsupported by sources", "policy violation",
                       "formatting", "other"],
    "required_reviews": 1,
    "lease_seconds": None,
    "backlog_cap": None,
    # Adaptive routing (review/adaptive/learning.py): a target error rate instead of a hand-set
    # auto_approve_at, the bound's confidence, the breaker's sliding window (audited
    # items) and how long a rollout stage must hold before it advances (None: manual).
    "max_error_rate": None,
    "confidence_level": 0.95,
    "breaker_window": 100,
    "rollout_hold_seconds": 3600,
    # A detected confidence shift on a fixed-threshold queue: "hold" the version for
    # humans (default) or only "alert" and audit more (docs/adaptive-routing.md).
    "on_shift": "hold",
    # Overload and cost (docs/overload-and-cost.md): what ingest does when the backlog is
    # over `backlog_cap` or its projected wait over the SLA, who is brought in, what a
    # reviewer's hour costs and the checker's daily spend limit.
    "overflow": "accept",
    "fallback_outcome": "reject",
    "fallback_reason": "overflow",
    "fallback_audit_rate": 0.0,
    "overflow_priority_floor": 90,
    "overflow_reviewers": [],
    "human_hourly_rate": None,
    "checker_daily_budget": None,
}


class PolicyError(ValueError):
    """A queue policy that cannot be applied; the message names the field."""


def queue_by_slug(session: Session, slug: str) -> Queue | None:
    return session.scalar(select(Queue).where(Queue.slug == slug))


def validate_policy(slug: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Return the normalised policy or raise PolicyError."""
    unknown = set(spec) - set(POLICY_FIELDS) - {"slug", "members"}
    if unknown:
        raise PolicyError(f"queue {slug}: unknown fields {sorted(unknown)}")
    policy = {k: spec.get(k, default) for k, default in POLICY_FIELDS.items()}
    if "sla_seconds" not in spec:
        policy["sla_seconds"] = _default_sla_seconds()
    policy["name"] = policy["name"] or slug
    for field in ("auto_approve_at", "review_below", "audit_rate"):
        value = policy[field]
        if not isinstance(value, int | float) or not 0 <= value <= 1:
            raise PolicyError(f"queue {slug}: {field} must be a number in [0, 1]")
        policy[field] = float(value)
    if policy["review_below"] > policy["auto_approve_at"]:
        raise PolicyError(f"queue {slug}: review_below must not exceed auto_approve_at")
    _validate_adaptive(slug, policy)
    _validate_overload(slug, policy)
    for field in ("sla_seconds", "required_reviews", "breaker_window"):
        if not isinstance(policy[field], int) or policy[field] < 1:
            raise PolicyError(f"queue {slug}: {field} must be a positive integer")
    for field in ("max_output_chars", "lease_seconds", "backlog_cap", "rollout_hold_seconds"):
        if policy[field] is not None and (not isinstance(policy[field], int)
                                          or policy[field] < 1):
            raise PolicyError(f"queue {slug}: {field} must be a positive integer")
    if policy["output_schema"] is not None:
        try:
            Draft202012Validator.check_schema(policy["output_schema"])
        except SchemaError as exc:
            raise PolicyError(f"queue {slug}: output_schema is invalid: {exc.message}") from exc
    if policy["checker"] is not None and (not isinstance(policy["checker"], dict)
                                          or "type" not in policy["checker"]):
        raise PolicyError(f"queue {slug}: checker must be a table with a 'type'")
    for field in ("blocked_phrases", "reject_reasons"):
        if not isinstance(policy[field], list) or not all(isinstance(x, str)
                                                          for x in policy[field]):
            raise PolicyError(f"queue {slug}: {field} must be a list of strings")
    return policy


def _validate_adaptive(slug: str, policy: dict[str, Any]) -> None:
    for field in ("max_error_rate", "confidence_level"):
        value = policy[field]
        if value is None and field == "max_error_rate":
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
            raise PolicyError(f"queue {slug}: {field} must be a number strictly between 0 "
                              "and 1")
        policy[field] = float(value)
    if policy["on_shift"] not in ("hold", "alert"):
        raise PolicyError(f"queue {slug}: on_shift must be hold or alert")
    if isinstance(policy["checker"], dict) and policy["checker"].get("scope", "all") not in (
            "all", "ambiguous"):
        raise PolicyError(f"queue {slug}: checker scope must be all or ambiguous")


OVERFLOW_POLICIES = ("accept", "reject", "fallback")
FALLBACK_OUTCOMES = ("reject", "approve")


def _validate_overload(slug: str, policy: dict[str, Any]) -> None:
    if policy["overflow"] not in OVERFLOW_POLICIES:
        raise PolicyError(f"queue {slug}: overflow must be one of {', '.join(OVERFLOW_POLICIES)}")
    if policy["fallback_outcome"] not in FALLBACK_OUTCOMES:
        raise PolicyError(f"queue {slug}: fallback_outcome must be one of "
                          f"{', '.join(FALLBACK_OUTCOMES)}")
    reason = policy["fallback_reason"]
    if not isinstance(reason, str) or not 0 < len(reason) <= 200:
        raise PolicyError(f"queue {slug}: fallback_reason must be a string of 1 to 200 "
                          "characters")
    rate = policy["fallback_audit_rate"]
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
        raise PolicyError(f"queue {slug}: fallback_audit_rate must be a number in [0, 1]")
    policy["fallback_audit_rate"] = float(rate)
    floor = policy["overflow_priority_floor"]
    if floor is not None and (isinstance(floor, bool) or not isinstance(floor, int)
                              or not 0 <= floor <= 100):
        raise PolicyError(f"queue {slug}: overflow_priority_floor must be an integer in "
                          "[0, 100]")
    names = policy["overflow_reviewers"]
    if not isinstance(names, list) or not all(isinstance(x, str) for x in names):
        raise PolicyError(f"queue {slug}: overflow_reviewers must be a list of user names")
    for field in ("human_hourly_rate", "checker_daily_budget"):
        value = policy[field]
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 \
                or value != value or value == float("inf"):
            raise PolicyError(f"queue {slug}: {field} must be a non-negative number")
        policy[field] = float(value)


def _default_sla_seconds() -> int:
    """DEFAULT_SLA_SECONDS of the running app (3600 outside one)."""
    if has_app_context():
        return int(settings().DEFAULT_SLA_SECONDS or 3600)
    return int(POLICY_FIELDS["sla_seconds"])


def load_policy_file(path: str | Path) -> dict[str, dict[str, Any]]:
    """Read `{slug: policy}` from TOML (`[queues.<slug>]`) or YAML (`queues: {slug: ...}`)."""
    path = Path(path)
    text = path.read_text()
    is_toml = path.suffix == ".toml"
    try:
        data = tomllib.loads(text) if is_toml else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise PolicyError(f"{path}: not valid {'TOML' if is_toml else 'YAML'}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("queues"), dict):
        raise PolicyError(f"{path}: expected a top-level 'queues' table")
    return {slug: validate_policy(slug, spec or {}) for slug, spec in data["queues"].items()}


def policy_of(queue: Queue) -> dict[str, Any]:
    return {field: getattr(queue, field) for field in POLICY_FIELDS}


def diff_policy(queue: Queue | None, policy: dict[str, Any]) -> dict[str, list[Any]]:
    """{field: [old, new]} for every field that would change."""
    current = policy_of(queue) if queue else {}
    return {
        field: [current.get(field), value]
        for field, value in policy.items()
        if queue is None or _canon(current.get(field)) != _canon(value)
    }


def apply_policies(session: Session, policies: dict[str, dict[str, Any]], actor: str) -> int:
    """Apply validated policies by slug, committed together; the number applied."""
    for slug, policy in policies.items():
        apply_policy(session, slug, policy, actor=actor)
    session.commit()
    return len(policies)


def apply_policy(session: Session, slug: str, policy: dict[str, Any],
                 actor: str) -> dict[str, Any]:
    """Create or update one queue; record the change; return the diff (empty: no-op).
    No commit (apply_policies commits a whole file's queues together)."""
    queue = queue_by_slug(session, slug)
    changes = diff_policy(queue, policy)
    if not changes:
        return {}
    if queue is None:
        queue = Queue(slug=slug)
        session.add(queue)
    for field, (_old, new) in changes.items():
        setattr(queue, field, new)
    if "max_error_rate" in changes:
        _switch_adaptive(queue, changes, adaptive=policy["max_error_rate"] is not None)
    queue.updated_at = utcnow()
    session.flush()
    session.add(PolicyChange(queue_id=queue.id, changed_by=actor, changed_at=utcnow(),
                             changes=changes))
    return changes


def _switch_adaptive(queue: Queue, changes: dict[str, list[Any]], adaptive: bool) -> None:
    """A queue that starts learning earns its trust from shadow; one that stops goes back
    to plain fixed routing (live, breaker closed), both recorded with the policy change."""
    was_adaptive = changes["max_error_rate"][0] is not None
    if adaptive == was_adaptive:
        return
    stage = "shadow" if adaptive else "100%"
    if queue.rollout_stage != stage:
        changes["rollout_stage"] = [queue.rollout_stage, stage]
        queue.rollout_stage = stage
        queue.stage_changed_at = utcnow()
    if not adaptive and queue.breaker_open:
        changes["breaker_open"] = [True, False]
        queue.breaker_open = False
        queue.breaker_reason = "closed: the queue stopped using max_error_rate"
        queue.breaker_changed_at = utcnow()


def export_policies(session: Session) -> dict[str, dict[str, Any]]:
    queues = session.scalars(select(Queue).order_by(Queue.slug))
    return {q.slug: {k: v for k, v in policy_of(q).items() if v is not None}
            for q in queues}


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
