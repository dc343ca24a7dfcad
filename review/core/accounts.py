"""Accounts: users, passwords and API keys; generated here, stored hashed, checked here."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from review.core.models import KEY_SCOPES, ROLES, ApiKey, QueueMember, User
from review.core.queues import queue_by_slug

KEY_PREFIX = "rv_"


def hash_key(raw: str) -> str:
    # Keys are 256-bit random, so a fast hash is safe (no dictionary to attack)
    # and keeps the per-request lookup cheap.
    return hashlib.sha256(raw.encode()).hexdigest()


def create_api_key(
    session: Session, name: str, scope: str, user: User | None = None
) -> tuple[ApiKey, str]:
    """Create a key; the raw key is returned once and never stored. No commit."""
    if scope not in KEY_SCOPES:
        raise ValueError(f"scope must be one of {', '.join(KEY_SCOPES)}")
    if scope == "review" and user is None:
        raise ValueError("a review key belongs to a reviewer: give the user")
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        name=name,
        scope=scope,
        prefix=raw[:10],
        key_hash=hash_key(raw),
        webhook_secret="whsec_" + secrets.token_hex(24),
        user_id=user.id if user else None,
    )
    session.add(key)
    session.flush()
    return key, raw


def create_user(session: Session, name: str, password: str, role: str) -> User:
    """Add a user with a hashed password; ValueError if refused. No commit."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if len(password) < 8:
        raise ValueError("password must be at least 8 characters")
    user = User(name=name, password_hash=generate_password_hash(password), role=role)
    session.add(user)
    session.flush()
    return user


def verify_password(user: User, password: str) -> bool:
    return check_password_hash(user.password_hash, password)


def register_user(session: Session, name: str, password: str, role: str,
                  queue_slugs: Iterable[str] = ()) -> User:
    """Create a user who is a member of `queue_slugs`, committed; ValueError if refused."""
    user = create_user(session, name, password, role)
    for slug in queue_slugs:
        queue = queue_by_slug(session, slug)
        if queue is None:
            session.rollback()
            raise ValueError(f"no queue {slug!r}")
        session.add(QueueMember(queue_id=queue.id, user_id=user.id, tags=[]))
    session.commit()
    return user


def issue_api_key(session: Session, name: str, scope: str,
                  user_name: str | None = None) -> tuple[ApiKey, str]:
    """Create a key (acting as `user_name`, for review keys), committed; the raw key once."""
    user = None
    if user_name:
        user = session.scalar(select(User).where(User.name == user_name))
        if user is None:
            raise ValueError(f"no user {user_name!r}")
    key, raw = create_api_key(session, name, scope, user)
    session.commit()
    return key, raw


def end_sessions(session: Session, user_id: int) -> None:
    """Sign the user out everywhere: every cookie of the old session version dies."""
    user = session.get(User, user_id)
    if user is not None:
        user.session_version += 1
        session.commit()
