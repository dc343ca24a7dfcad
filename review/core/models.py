"""Database models. The schema itself is made only by Alembic migrations."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from review.core.clock import utcnow

JsonType = JSON().with_variant(JSONB(), "postgresql")
BigId = BigInteger().with_variant(Integer(), "sqlite")

ITEM_STATUSES = ("checking", "pending", "in_review", "approved", "rejected")
ROLES = ("reviewer", "supervisor", "admin")
KEY_SCOPES = ("submit", "review", "admin")


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JsonType, list[Any]: JsonType, Any: JsonType}


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20), default="reviewer")
    # Bumped at logout and password change: every older session cookie dies.
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    memberships: Mapped[list[QueueMember]] = relationship(back_populates="user")

    def has_role(self, *roles: str) -> bool:
        return self.role in roles or self.role == "admin"


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The name is the owner: items belong to it, so a rotated key with the
    # same name keeps seeing the items its predecessor submitted.
    name: Mapped[str] = mapped_column(String(80), index=True)
    scope: Mapped[str] = mapped_column(String(20))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Needed in clear to sign webhooks; shown once at creation like the key.
    webhook_secret: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    user: Mapped[User | None] = relationship()


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


class LearnedThreshold(Base):
    """The auto-approve threshold learned for one model and prompt version of a queue.

    Versions are '' when the item named none, so the unique key holds.
    """

    __tablename__ = "learned_thresholds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id"))
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

    __table_args__ = (UniqueConstraint("queue_id", "model_version", "prompt_version",
                                       name="uq_learned_thresholds_version"),)


class QueueMember(Base):
    __tablename__ = "queue_members"

    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    # Optional skill/language tags matched against item metadata["tags"].
    tags: Mapped[list[Any]] = mapped_column(JsonType, default=list)

    queue: Mapped[Queue] = relationship(back_populates="members")
    user: Mapped[User] = relationship(back_populates="memberships")


class PolicyChange(Base):
    __tablename__ = "policy_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id"), index=True)
    changed_by: Mapped[str] = mapped_column(String(80))
    changed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    changes: Mapped[dict[str, Any]] = mapped_column(JsonType)


class Item(Base):
    __tablename__ = "items"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id"))
    submitter: Mapped[str] = mapped_column(String(80))
    external_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    body_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    route_path: Mapped[str] = mapped_column(String(8))
    route_reasons: Mapped[list[Any]] = mapped_column(JsonType, default=list)
    audit_sampled: Mapped[bool] = mapped_column(Boolean, default=False)
    # What the router would have done for an item it sent to humans only because of
    # shadow mode, the rollout share, an open breaker or a version without evidence.
    shadow_route: Mapped[str | None] = mapped_column(String(8), nullable=True)
    input: Mapped[Any] = mapped_column(JsonType, nullable=True)
    output: Mapped[Any] = mapped_column(JsonType, nullable=True)
    context: Mapped[list[Any]] = mapped_column(JsonType, default=list)
    confidence: Mapped[float] = mapped_column(Float)
    model_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    model_version: Mapped[str | None] = mapped_column(String(200), nullable=True)
    prompt_version: Mapped[str | None] = mapped_column(String(200), nullable=True)
    priority: Mapped[int] = mapped_column(Integer, default=50)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JsonType, default=dict)
    callback_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    due_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    sla_state: Mapped[str] = mapped_column(String(10), default="ok")
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    # Lease: who holds the item for review, until when, under which token.
    claimed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    lease_token: Mapped[str | None] = mapped_column(String(32), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    assigned_to: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    # Optimistic concurrency: every state change bumps it in a conditional UPDATE.
    version: Mapped[int] = mapped_column(Integer, default=1)
    # Secondary check.
    check_enqueued_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    check_attempts: Mapped[int] = mapped_column(Integer, default=0)
    check_checker: Mapped[str | None] = mapped_column(String(40), nullable=True)
    check_verdict: Mapped[str | None] = mapped_column(String(10), nullable=True)
    check_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    check_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    check_latency_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    checked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # Decision.
    decision_outcome: Mapped[str | None] = mapped_column(String(10), nullable=True)
    decision_output: Mapped[Any] = mapped_column(JsonType, nullable=True)
    decision_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    decision_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(80), nullable=True)
    decided_by_kind: Mapped[str | None] = mapped_column(String(10), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # The decisions feed's order, set by the database when decided_at is (migration 0007):
    # commit-ordered, so a cursor never passes a decision that commits later.
    feed_position: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    purged_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    queue: Mapped[Queue] = relationship()

    __table_args__ = (
        UniqueConstraint("submitter", "queue_id", "external_id", name="uq_items_idempotency"),
        # Claim-next reads only pending rows in this order: a partial index
        # keeps it an index scan however many decided rows pile up.
        Index(
            "ix_items_claimable",
            "queue_id",
            text("priority DESC"),
            "due_at",
            "created_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        Index(
            "ix_items_decisions",
            "queue_id",
            "decided_at",
            "id",
            postgresql_where=text("decided_at IS NOT NULL"),
            sqlite_where=text("decided_at IS NOT NULL"),
        ),
        # The decisions feed (GET /api/v1/decisions) in order: one submitter's, and all
        # (an admin key; SQLite's trigger also reads the highest position from it).
        Index("ix_items_feed", "submitter", "feed_position", "id",
              postgresql_where=text("feed_position IS NOT NULL"),
              sqlite_where=text("feed_position IS NOT NULL")),
        Index("ix_items_feed_all", "feed_position", "id",
              postgresql_where=text("feed_position IS NOT NULL"),
              sqlite_where=text("feed_position IS NOT NULL")),
        Index("ix_items_status_queue", "status", "queue_id"),
        Index("ix_items_created", "queue_id", "created_at"),
        Index(
            "ix_items_leases",
            "lease_expires_at",
            postgresql_where=text("status = 'in_review'"),
            sqlite_where=text("status = 'in_review'"),
        ),
        # Reports (review/reports/sla_report.py, review/reports/quality.py): index-only scans on
        # PostgreSQL over a queue's time window; see migration 0003.
        Index(
            "ix_items_report_created",
            "queue_id",
            "created_at",
            postgresql_include=[
                "route_path", "model_name", "model_version", "prompt_version", "confidence",
                "decided_by_kind", "decision_outcome", "check_verdict", "decision_reason"],
        ),
        Index(
            "ix_items_report_decided",
            "queue_id",
            "decided_at",
            postgresql_include=["decided_by_kind", "created_at", "due_at"],
            postgresql_where=text("decided_at IS NOT NULL"),
            sqlite_where=text("decided_at IS NOT NULL"),
        ),
        # Learned thresholds read a version's recent human decisions (review/adaptive/learning.py).
        Index(
            "ix_items_evidence",
            "queue_id",
            "model_version",
            "prompt_version",
            "decided_at",
            postgresql_where=text("decided_by_kind = 'reviewer'"),
            sqlite_where=text("decided_by_kind = 'reviewer'"),
        ),
        Index(
            "ix_items_checked",
            "checked_at",
            postgresql_include=["queue_id", "check_verdict", "check_latency_ms"],
            postgresql_where=text("checked_at IS NOT NULL"),
            sqlite_where=text("checked_at IS NOT NULL"),
        ),
    )


class Review(Base):
    """One human verdict on an item; several per item under consensus."""

    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("items.id"), index=True)
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id"))
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    outcome: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    output: Mapped[Any] = mapped_column(JsonType, nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    item: Mapped[Item] = relationship(lazy="raise")

    __table_args__ = (
        UniqueConstraint("item_id", "reviewer_id", name="uq_reviews_item_reviewer"),
        Index("ix_reviews_reviewer_created", "reviewer_id", "created_at"),
        Index("ix_reviews_report", "queue_id", "created_at",
              postgresql_include=["reviewer_id", "outcome", "claimed_at"]),
    )


class ItemEvent(Base):
    """Append-only audit trail of every state change of an item."""

    __tablename__ = "item_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("items.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(80))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    data: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)

    # Declared so the unit of work inserts the item before its events.
    item: Mapped[Item] = relationship(lazy="raise")


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(80), unique=True)
    item_id: Mapped[str | None] = mapped_column(ForeignKey("items.id"), nullable=True, index=True)
    kind: Mapped[str] = mapped_column(String(32), default="item.decided")
    url: Mapped[str] = mapped_column(String(2000))
    payload: Mapped[dict[str, Any]] = mapped_column(JsonType)
    secret_key_name: Mapped[str | None] = mapped_column(String(80), nullable=True)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    item: Mapped[Item | None] = relationship(lazy="raise")

    __table_args__ = (Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),)


class WebhookAttempt(Base):
    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    latency_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (Index("ix_webhook_attempts_at", "at", postgresql_include=["status_code"]),)


class Alert(Base):
    """An alert episode: opened once, resolved once, notified once."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id"), nullable=True)
    item_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    kind: Mapped[str] = mapped_column(String(40))
    # One open episode per key: a partial unique index makes "once per
    # episode" hold even when two schedulers race.
    episode_key: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    opened_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    notified_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    __table_args__ = (
        Index(
            "uq_alerts_open_episode",
            "episode_key",
            unique=True,
            postgresql_where=text("resolved_at IS NULL"),
            sqlite_where=text("resolved_at IS NULL"),
        ),
        Index("ix_alerts_opened", "opened_at"),
    )


class ReportRollup(Base):
    """Grouped report rows of one closed day (review/reports/rollups.py); k1..k7 are the
    kind's key values as text."""

    __tablename__ = "report_rollups"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    day: Mapped[date] = mapped_column(Date)
    queue_id: Mapped[int] = mapped_column(Integer)
    k1: Mapped[str | None] = mapped_column(String(200), nullable=True)
    k2: Mapped[str | None] = mapped_column(String(200), nullable=True)
    k3: Mapped[str | None] = mapped_column(String(200), nullable=True)
    k4: Mapped[str | None] = mapped_column(String(200), nullable=True)
    k5: Mapped[str | None] = mapped_column(String(200), nullable=True)
    k6: Mapped[str | None] = mapped_column(String(200), nullable=True)
    k7: Mapped[str | None] = mapped_column(String(200), nullable=True)
    n: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[float | None] = mapped_column(Float, nullable=True)
    first_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    __table_args__ = (Index("ix_report_rollups_lookup", "kind", "queue_id", "day"),)


class ReportRollupDay(Base):
    """A (kind, day) whose rollup rows are stored and complete."""

    __tablename__ = "report_rollup_days"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    rows: Mapped[int] = mapped_column(Integer, default=0)
    done_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class AccountEvent(Base):
    """Append-only audit of account changes (users, memberships, keys): ids, not FKs."""
    __tablename__ = "account_events"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(40))
    user_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
