"""API keys and passwords: generated here, stored hashed, checked here."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import g, request
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from review.errors import ApiError
from review.models import KEY_SCOPES, ROLES, ApiKey, User

KEY_PREFIX = "rv_"


def hash_key(raw: str) -> str:
    # Keys are 256-bit random, so a fast hash is safe (no dictionary to attack)
    # and keeps the per-request lookup cheap.
    return hashlib.sha256(raw.encode()).hexdigest()


def create_api_key(
    session: Session, name: str, scope: str, user: User | None = None
) -> tuple[ApiKey, str]:
    """Create a key; the raw key is returned once and never stored."""
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


def key_from_request(session: Session) -> ApiKey:
    header = request.headers.get("Authorization", "")
    scheme, _, raw = header.partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        raise ApiError(
            401,
            "unauthorized",
            "Send an API key as 'Authorization: Bearer <key>'.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    key = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(raw.strip())))
    if key is None or not hmac.compare_digest(key.key_hash, hash_key(raw.strip())):
        raise ApiError(401, "invalid_key", "The API key is unknown.",
                       headers={"WWW-Authenticate": "Bearer"})
    if key.revoked_at is not None:
        raise ApiError(401, "key_revoked", "The API key has been revoked.",
                       headers={"WWW-Authenticate": "Bearer"})
    if key.user is not None and not key.user.active:
        raise ApiError(401, "user_inactive", "The key's user is deactivated.")
    return key


def require_key(*scopes: str) -> Callable:
    """Decorator: the request carries a live key of one of `scopes` (admin always passes)."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            from review.db import get_session

            key = key_from_request(get_session())
            if key.scope != "admin" and key.scope not in scopes:
                raise ApiError(
                    403,
                    "wrong_scope",
                    f"This route needs a key of scope {' or '.join(scopes)}; "
                    f"this key has scope {key.scope}.",
                )
            g.api_key = key
            return view(*args, **kwargs)

        wrapper.required_scopes = scopes  # type: ignore[attr-defined]
        return wrapper

    return decorator


def current_key() -> ApiKey:
    return g.api_key
