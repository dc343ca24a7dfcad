"""Queues, their members, policy history and learned thresholds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from review.core.clock import utcnow
from review.core.models.base import Base, JsonType


class Queue(Base):
    __tablename__ = "queues"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    auto_approve_at: Mapped[float] = mapped_column(Float, default=0.9)
    review_below: Mapped[float] = mapped_column(Float, default=0.6)
    audit_rate: Mapped[float] = mapped_column(Float, default=0.05)
    sla_seconds: Mapped[int] = mapped_column(Integer, default=3600)
    output_schema: Mapped[dict[str, Any] | None] = mapped_column(JsonType, nullable=True)
    blocked_phrases: Mapped[list[Any]] = mapped_column(JsonType, default=list)
    max_output_chars: Mapped[int | None] = mapped_column(Integer, nullable=True)
    checker: Mapped[dict[str, Any] | None] = mapped_column(JsonType, nullable=True)
    webhook_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    reject_reasons: Mapped[list[Any]] = mapped_column(JsonType, default=list)
    required_reviews: Mapped[int] = mapped_column(Integer, default=1)
    lease_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    backlog_cap: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Adaptive routing (review/adaptive/learning.py): the policy part ...
    max_error_rate: Mapped[float | None] = mapped_column(Float, nullable=True)
    confidence_level: Mapped[float] = mapped_column(Float, default=0.95)
    breaker_window: Mapped[int] = mapped_column(Integer, default=100)
    rollout_hold_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # What a confidence shift does to a fixed-threshold queue: "hold" or "alert" (0011).
    on_shift: Mapped[str] = mapped_column(String(8), default="hold")
    # Overload and cost (docs/overload-and-cost.md, migration 0010).
    overflow: Mapped[str] = mapped_column(String(8), default="accept")
    fallback_outcome: Mapped[str] = mapped_column(String(8), default="reject")
    fallback_reason: Mapped[str] = mapped_column(String(200), default="overflow")
    fallback_audit_rate: Mapped[float] = mapped_column(Float, default=0.0)
    overflow_priority_floor: Mapped[int | None] = mapped_column(Integer, nullable=True)
    overflow_reviewers: Mapped[list[Any]] = mapped_column(JsonType, default=list)
    human_hourly_rate: Mapped[float | None] = mapped_column(Float, nullable=True)
    checker_daily_budget: Mapped[float | None] = mapped_column(Float, nullable=True)
    # ... and the state the learner and supervisors change (not in policy files, so
    # `queues apply` never resets it).
    rollout_stage: Mapped[str] = mapped_column(String(8), default="100%")
    stage_changed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    breaker_open: Mapped[bool] = mapped_column(Boolean, default=False)
    breaker_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    breaker_changed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    learned_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    members: Mapped[list[QueueMember]] = relationship(back_populates="queue")


class QueueMember(Base):
    __tablename__ = "queue_members"

    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    # Optional skill/language tags matched against item metadata["tags"].
    tags: Mapped[list[Any]] = mapped_column(JsonType, default=list)

    queue: Mapped[Queue] = relationship(back_populates="members")
    # The mapper registry resolves the name; a TYPE_CHECKING import would make an import cycle.
    user: Mapped[User] = relationship(back_populates="memberships")  # type: ignore[name-defined]  # noqa: F821


class OverflowShed(Base):
    """Items refused at the door by a queue's `overflow = "reject"` policy: nothing of
    them is stored as an item, so this row is their audit trail (one per request)."""

    __tablename__ = "overflow_sheds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id"))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    submitter: Mapped[str] = mapped_column(String(80))
    items: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    external_ids: Mapped[list[Any]] = mapped_column(JsonType, default=list)

    __table_args__ = (Index("ix_overflow_sheds_queue_at", "queue_id", "at"),)


class PolicyChange(Base):
    __tablename__ = "policy_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id"), index=True)
    changed_by: Mapped[str] = mapped_column(String(80))
    changed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    changes: Mapped[dict[str, Any]] = mapped_column(JsonType)


class LearnedThreshold(Base):
    """The auto-approve threshold learned for one model name, model version and prompt
    version of a queue, and that version's shift detector (review/adaptive/shift.py).

    Names and versions are '' when the item named none, so the unique key holds.
    """

    __tablename__ = "learned_thresholds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id"))
    model_name: Mapped[str] = mapped_column(String(200), default="")
    model_version: Mapped[str] = mapped_column(String(200))
    prompt_version: Mapped[str] = mapped_column(String(200))
    threshold: Mapped[float | None] = mapped_column(Float, nullable=True)
    # The latest threshold this version earned: after a withdrawal the router still
    # records what it would have auto-approved, which feeds the breaker.
    last_threshold: Mapped[float | None] = mapped_column(Float, nullable=True)
    evidence_count: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    upper_bound: Mapped[float | None] = mapped_column(Float, nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # Since when the current threshold has been earned without a break (the rollout hold).
    earned_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # Shift detection (0011): the detector's state, written at ingest; the moment and
    # reason of the last detected shift; evidence counts only items created from
    # `evidence_since` on, and a threshold is valid only if learned from that same start
    # (`threshold_since`), so a learner pass racing a detection cannot restore it.
    shift_state: Mapped[dict[str, Any] | None] = mapped_column(JsonType, nullable=True)
    shift_detected_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    shift_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    evidence_since: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    threshold_since: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    __table_args__ = (UniqueConstraint("queue_id", "model_name", "model_version",
                                       "prompt_version", name="uq_learned_thresholds_version"),)
