"""Items, their reviews and their event trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
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
from sqlalchemy.orm import Mapped, mapped_column, relationship

from review.core.clock import utcnow
from review.core.models.base import Base, BigId, JsonType


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
    # Usage: the upstream model's (as submitted) and the checker's own (migration 0010).
    usage_input_tokens: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    usage_output_tokens: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    usage_cost: Mapped[float | None] = mapped_column(Float, nullable=True)
    check_input_tokens: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    check_output_tokens: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    check_cost: Mapped[float | None] = mapped_column(Float, nullable=True)
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

    # The mapper registry resolves the name; a TYPE_CHECKING import would make an import cycle.
    queue: Mapped[Queue] = relationship()  # type: ignore[name-defined]  # noqa: F821

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
