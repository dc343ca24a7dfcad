"""API keys at the edge: the bearer key of a request, and the scope a route needs."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import g, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from review.api.errors import ApiError
from review.core.accounts import hash_key
from review.core.db import get_session
from review.core.models import ApiKey


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
