"""Alerts and the report rollups."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from review.core.clock import utcnow
from review.core.models.base import Base, BigId, JsonType


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
