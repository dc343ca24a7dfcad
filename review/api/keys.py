"""API keys at the edge: the bearer key of a request, and the scope a route needs."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import current_app, g, request
from sqlalchemy.orm import Session

from review.api.errors import ApiError
from review.core.accounts import hash_key
from review.core.db import get_session
from review.core.key_cache import KeyRow, lookup_key, note_key_used
from review.core.models import User


class RequestKey:
    """The request's key: its cached row, and its user loaded only when a view asks."""

    def __init__(self, row: KeyRow) -> None:
        self.row = row
        self.id, self.name, self.scope = row.id, row.name, row.scope

    @property
    def user(self) -> User | None:
        if self.row.user_id is None:
            return None
        return get_session().get(User, self.row.user_id)


def key_from_request(session: Session) -> RequestKey:
    header = request.headers.get("Authorization", "")
    scheme, _, raw = header.partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        raise ApiError(
            401,
            "unauthorized",
            "Send an API key as 'Authorization: Bearer <key>'.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    key_hash = hash_key(raw.strip())
    row = lookup_key(session, key_hash)
    if row is None or not hmac.compare_digest(row.key_hash, key_hash):
        raise ApiError(401, "invalid_key", "The API key is unknown.",
                       headers={"WWW-Authenticate": "Bearer"})
    if row.revoked:
        raise ApiError(401, "key_revoked", "The API key has been revoked.",
                       headers={"WWW-Authenticate": "Bearer"})
    if not row.user_active:
        raise ApiError(401, "user_inactive", "The key's user is deactivated.")
    note_key_used(current_app.extensions["review.engine"], row.key_hash, row.id)
    return RequestKey(row)


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


def current_key() -> RequestKey:
    return g.api_key
