"""Accounts: users, passwords and API keys; generated here, stored hashed, checked here.

The lifecycle services (create, deactivate, activate, set a role or a password, issue,
revoke and rotate a key) each commit and record one `AccountEvent` (who, what, when) in
the same transaction, so no change lands without its audit row. They raise domain errors;
`register_user` and `issue_api_key`, which the CLI has always used, keep raising
ValueError.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from review.core.clock import isoformat, utcnow
from review.core.db import after_commit
from review.core.errors import Conflict, InvalidInput, NotAllowed, NotFound
from review.core.key_cache import publish_key_change
from review.core.models import (
    KEY_SCOPES,
    ROLES,
    AccountEvent,
    ApiKey,
    Queue,
    QueueMember,
    User,
)
from review.core.queues import queue_by_slug

KEY_PREFIX = "rv_"
PASSWORD_MIN = 8
# Long enough for any passphrase, short enough that hashing it is no denial of service.
PASSWORD_MAX = 200
NAME_MAX = 80
NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@-")
NAME_RULE = (f"1 to {NAME_MAX} characters: letters, digits and . _ @ -, "
             "starting with a letter or digit")


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
    if len(password) < PASSWORD_MIN:
        raise ValueError(f"password must be at least {PASSWORD_MIN} characters")
    user = User(name=name, password_hash=generate_password_hash(password), role=role)
    session.add(user)
    session.flush()
    return user


def verify_password(user: User, password: str) -> bool:
    return check_password_hash(user.password_hash, password)


def record_account_event(session: Session, actor: str, action: str,
                         user_id: int | None = None, **data: Any) -> AccountEvent:
    """Add one account audit row; no commit (it lands with the change it records)."""
    event = AccountEvent(at=utcnow(), actor=actor[:120], action=action, user_id=user_id,
                         data=data)
    session.add(event)
    return event


def account_events(session: Session, limit: int = 50,
                   before: int | None = None) -> list[AccountEvent]:
    """The newest account audit rows first; `before` is the id of the last one seen."""
    query = select(AccountEvent).order_by(AccountEvent.id.desc()).limit(limit)
    if before is not None:
        query = query.where(AccountEvent.id < before)
    return list(session.scalars(query))


def account_event_to_dict(event: AccountEvent) -> dict[str, Any]:
    return {"id": event.id, "at": isoformat(event.at), "actor": event.actor,
            "action": event.action, "user_id": event.user_id, "data": event.data or {}}


def register_user(session: Session, name: str, password: str, role: str,
                  queue_slugs: Iterable[str] = (), actor: str = "cli") -> User:
    """Create a user who is a member of `queue_slugs`, committed; ValueError if refused."""
    slugs = list(queue_slugs)
    queues = []
    for slug in slugs:
        queue = queue_by_slug(session, slug)
        if queue is None:
            raise ValueError(f"no queue {slug!r}")
        queues.append(queue)
    return _insert_user(session, actor, name, password, role, queues)


def issue_api_key(session: Session, name: str, scope: str,
                  user_name: str | None = None, actor: str = "cli") -> tuple[ApiKey, str]:
    """Create a key (acting as `user_name`, for review keys), committed; the raw key once."""
    user = None
    if user_name:
        user = session.scalar(select(User).where(User.name == user_name))
        if user is None:
            raise ValueError(f"no user {user_name!r}")
    return _insert_key(session, actor, name, scope, user)


def _insert_user(session: Session, actor: str, name: str, password: str, role: str,
                 queues: list[Queue]) -> User:
    """The user, their memberships and the audit row, committed together."""
    user = create_user(session, name, password, role)
    for queue in queues:
        session.add(QueueMember(queue_id=queue.id, user_id=user.id, tags=[]))
    record_account_event(session, actor, "user.created", user.id, name=name, role=role,
                         queues=[q.slug for q in queues])
    session.commit()
    return user


def _insert_key(session: Session, actor: str, name: str, scope: str,
                user: User | None) -> tuple[ApiKey, str]:
    """The key and its audit row, committed together; the raw key once."""
    key, raw = create_api_key(session, name, scope, user)
    record_account_event(session, actor, "key.created", user.id if user else None,
                         key_id=key.id, name=name, scope=scope, prefix=key.prefix)
    session.commit()
    return key, raw


def end_sessions(session: Session, user_id: int) -> None:
    """Sign the user out everywhere: every cookie of the old session version dies."""
    user = session.get(User, user_id)
    if user is not None:
        user.session_version += 1
        session.commit()


# --- The lifecycle: each service below commits, or rolls back and raises. ---


def check_name(name: str, what: str = "name") -> str:
    """`name` if it follows NAME_RULE; InvalidInput otherwise."""
    if not (isinstance(name, str) and 0 < len(name) <= NAME_MAX
            and set(name) <= NAME_CHARS and name[0].isalnum()):
        raise InvalidInput(f"invalid_{what}", f"A {what} is {NAME_RULE}.")
    return name


def check_password(password: str) -> str:
    if not isinstance(password, str) or not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise InvalidInput("invalid_password", f"A password is {PASSWORD_MIN} to "
                           f"{PASSWORD_MAX} characters.")
    try:
        password.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate from JSON's \ud800
        raise InvalidInput("invalid_password", "The password is not valid text.") from exc
    return password


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInput("invalid_role", f"The role is one of {', '.join(ROLES)}.")
    return role


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("user_not_found", f"No user #{user_id}.")
    return user


def user_named(session: Session, name: str) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound("user_not_found", f"No user {name!r}.")
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.name)))


def user_queues(session: Session, user_ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
    """{user id: [{"queue": slug, "tags": [...]}, ...]} for the given users, by slug."""
    ids = list(user_ids)
    found: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    if not ids:
        return found
    rows = session.execute(
        select(QueueMember.user_id, Queue.slug, QueueMember.tags)
        .join(Queue, Queue.id == QueueMember.queue_id)
        .where(QueueMember.user_id.in_(ids)).order_by(Queue.slug))
    for user_id, slug, tags in rows:
        found[user_id].append({"queue": slug, "tags": list(tags or [])})
    return found


def user_to_dict(user: User, queues: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"id": user.id, "name": user.name, "role": user.role, "active": user.active,
            "created_at": isoformat(user.created_at), "queues": queues or []}


def add_user(session: Session, actor: str, name: str, password: str, role: str,
             queue_slugs: Iterable[str] = ()) -> User:
    """Create a user, member of `queue_slugs`, audited and committed."""
    check_name(name)
    check_password(password)
    _check_role(role)
    if session.scalar(select(User.id).where(User.name == name)) is not None:
        raise Conflict("user_exists", f"A user named {name!r} exists already.")
    slugs = list(dict.fromkeys(queue_slugs))
    queues = []
    for slug in slugs:
        queue = queue_by_slug(session, slug)
        if queue is None:
            raise NotFound("queue_not_found", f"No queue {slug!r}.")
        queues.append(queue)
    try:
        user = _insert_user(session, actor, name, password, role, queues)
    except IntegrityError as exc:  # the same name created meanwhile
        session.rollback()
        raise Conflict("user_exists", f"A user named {name!r} exists already.") from exc
    return user


def _other_active_admins(session: Session, user: User) -> int:
    return session.scalar(select(func.count(User.id)).where(
        User.role == "admin", User.active.is_(True), User.id != user.id)) or 0


def _guard_admin_change(session: Session, user: User, acting_user_id: int | None) -> None:
    """Nobody changes their own standing, and the last active admin stays one: the
    instance is never left without an admin who can undo a mistake."""
    if acting_user_id is not None and acting_user_id == user.id:
        raise NotAllowed("own_account", "Another admin must change your own role or "
                         "deactivate you.")
    if user.role == "admin" and user.active and not _other_active_admins(session, user):
        raise Conflict("last_admin", f"{user.name} is the last active admin.")


def set_user_active(session: Session, actor: str, user_id: int, active: bool,
                    acting_user_id: int | None = None) -> tuple[User, bool]:
    """Activate or deactivate; (user, changed). Deactivating also ends every session."""
    user = get_user(session, user_id)
    if user.active == active:
        return user, False
    if not active:
        _guard_admin_change(session, user, acting_user_id)
        # Also a new session version: reactivating later must not revive old cookies.
        user.session_version += 1
    user.active = active
    record_account_event(session, actor, "user.activated" if active else "user.deactivated",
                         user.id, name=user.name)
    after_commit(session, publish_key_change, "user", user.id)  # cached keys, every process
    session.commit()
    return user, True


def set_user_role(session: Session, actor: str, user_id: int, role: str,
                  acting_user_id: int | None = None) -> tuple[User, bool]:
    """Give the user another role; (user, changed)."""
    _check_role(role)
    user = get_user(session, user_id)
    if user.role == role:
        return user, False
    _guard_admin_change(session, user, acting_user_id)
    record_account_event(session, actor, "user.role_changed", user.id, name=user.name,
                         **{"from": user.role, "to": role})
    user.role = role
    after_commit(session, publish_key_change, "user", user.id)
    session.commit()
    return user, True


def set_password(session: Session, actor: str, user_id: int, password: str) -> User:
    """An admin sets a user's password; every session of that user ends."""
    check_password(password)
    user = get_user(session, user_id)
    user.password_hash = generate_password_hash(password)
    user.session_version += 1
    record_account_event(session, actor, "user.password_set", user.id, name=user.name)
    session.commit()
    return user


def change_own_password(session: Session, user_id: int, current: str, new: str) -> User:
    """A user changes their password, proving the current one; every session ends
    (the caller signs this one in again with the new session version)."""
    user = get_user(session, user_id)
    if not verify_password(user, current):
        raise NotAllowed("wrong_password", "The current password is wrong.")
    check_password(new)
    user.password_hash = generate_password_hash(new)
    user.session_version += 1
    record_account_event(session, user.name, "user.password_changed", user.id,
                         name=user.name)
    session.commit()
    return user


def get_key(session: Session, key_id: int) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFound("key_not_found", f"No API key #{key_id}.")
    return key


def list_keys(session: Session, include_revoked: bool = True) -> list[ApiKey]:
    query = select(ApiKey).order_by(ApiKey.name, ApiKey.id)
    if not include_revoked:
        query = query.where(ApiKey.revoked_at.is_(None))
    return list(session.scalars(query))


def key_to_dict(key: ApiKey) -> dict[str, Any]:
    """What may be shown of a key: never its hash or its webhook secret."""
    return {"id": key.id, "name": key.name, "scope": key.scope, "prefix": key.prefix,
            "user": key.user.name if key.user is not None else None,
            "created_at": isoformat(key.created_at),
            "last_used_at": isoformat(key.last_used_at) if key.last_used_at else None,
            "revoked_at": isoformat(key.revoked_at) if key.revoked_at else None}


def add_key(session: Session, actor: str, name: str, scope: str,
            user_name: str | None = None) -> tuple[ApiKey, str]:
    """Issue a key (a review key acts as `user_name`), audited and committed; the raw
    key is returned once."""
    check_name(name)
    if scope not in KEY_SCOPES:
        raise InvalidInput("invalid_scope", f"The scope is one of {', '.join(KEY_SCOPES)}.")
    if scope == "review" and not user_name:
        raise InvalidInput("user_required", "A review key acts as a user: give the user.")
    user = user_named(session, user_name) if user_name else None
    return _insert_key(session, actor, name, scope, user)


def _live_key(session: Session, key_id: int) -> ApiKey:
    key = get_key(session, key_id)
    if key.revoked_at is not None:
        raise Conflict("key_revoked", f"API key #{key_id} is revoked already.")
    return key


def revoke_key(session: Session, actor: str, key_id: int) -> ApiKey:
    """Revoke a key; the next request that carries it gets 401. Audited, committed."""
    key = _live_key(session, key_id)
    key.revoked_at = utcnow()
    record_account_event(session, actor, "key.revoked", key.user_id, key_id=key.id,
                         name=key.name, prefix=key.prefix)
    after_commit(session, publish_key_change, "key", key.id)  # refused next request, anywhere
    session.commit()
    return key


def rotate_key(session: Session, actor: str, key_id: int) -> tuple[ApiKey, str]:
    """Replace a key by a new one of the same name, scope and user, and revoke the old
    one at once; the raw new key is returned once. The webhook secret is kept, so the
    receivers of the key's webhooks need no change. Audited, committed."""
    old = _live_key(session, key_id)
    new, raw = create_api_key(session, old.name, old.scope, old.user)
    new.webhook_secret = old.webhook_secret
    old.revoked_at = utcnow()
    record_account_event(session, actor, "key.rotated", old.user_id, key_id=old.id,
                         new_key_id=new.id, name=old.name, prefix=new.prefix)
    after_commit(session, publish_key_change, "key", old.id)
    session.commit()
    return new, raw
