"""Users, API keys and the account audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from review.core.clock import utcnow
from review.core.models.base import Base, BigId, JsonType


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
    # Set for a user made by OpenID Connect sign-in (review/core/oidc.py): who they are at
    # which provider. NULL for local users; unique together (migration 0009).
    oidc_issuer: Mapped[str | None] = mapped_column(String(255), nullable=True)
    oidc_subject: Mapped[str | None] = mapped_column(String(255), nullable=True)

    __table_args__ = (Index("ux_users_oidc_identity", "oidc_issuer", "oidc_subject",
                            unique=True),)

    # The mapper registry resolves the name; a TYPE_CHECKING import would make an import cycle.
    memberships: Mapped[list[QueueMember]] = relationship(back_populates="user")  # type: ignore[name-defined]  # noqa: F821

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


class AccountEvent(Base):
    """Append-only audit of account changes (users, memberships, keys): ids, not FKs."""
    __tablename__ = "account_events"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(40))
    user_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
