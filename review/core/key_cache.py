"""API keys known to this process: the authenticated key without a database round trip.

Every API request names its key; looking it up (and its user) was a SELECT per request.
Each process keeps what `require_key` needs of a key it has seen for API_KEY_CACHE_SECONDS,
and every change that could refuse a key (revoke, rotate, deactivate or change a user) is
published on a Redis channel after its commit. A subscriber thread per process, started on
first use, drops the entries named; while Redis is unreachable the TTL alone bounds how
long a change takes to reach the other processes. A request meeting an invalidation that
has arrived on the subscriber's socket but is not handled yet reads the database instead,
so a change published before a request starts is seen by that request.

`last_used_at` is written at most once per LAST_USED_EVERY seconds per key and process, in
its own short transaction, never once per request.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Flask, current_app, has_app_context
from redis import Redis
from redis.client import PubSub
from redis.exceptions import RedisError
from sqlalchemy import Engine, update
from sqlalchemy import select as sql_select
from sqlalchemy.orm import Session

from review.core.clock import utcnow
from review.core.db import SQLITE_BUSY_MS
from review.core.jobs import connect_redis, get_redis
from review.core.models import ApiKey, User
from review.core.settings import settings

log = logging.getLogger(__name__)

LAST_USED_EVERY = 60.0  # seconds between two last_used_at writes of one key in one process
MAX_ENTRIES = 10_000  # a full cache starts afresh rather than growing without bound
RETRY_SECONDS = 1.0  # the subscriber's pause before reconnecting to Redis


@dataclass(frozen=True)
class KeyRow:
    """What an API request needs of its key and the key's user."""

    id: int
    name: str
    scope: str
    key_hash: str
    revoked: bool
    user_id: int | None
    user_active: bool
    user_role: str | None


def _channel(app: Flask) -> str:
    return f"{settings(app).REDIS_PREFIX}:api-key-changes"


class KeyCache:
    """Key rows by hash with an expiry, emptied by the invalidations on `channel`."""

    def __init__(self, ttl: float, channel: str, connect: Callable[[], Redis]) -> None:
        self.ttl, self.channel, self._connect = ttl, channel, connect
        self._rows: dict[str, tuple[KeyRow, float]] = {}
        self._lock = threading.Lock()
        self._last_used: dict[str, float] = {}
        self._pid = os.getpid()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        # Held while the subscriber reads and applies messages.
        self._busy = threading.Lock()
        self.connected = threading.Event()

    # --- lookups ---

    def get(self, key_hash: str) -> KeyRow | None:
        """The cached row of `key_hash` if fresh and no invalidation is waiting."""
        if self.ttl <= 0:
            return None
        self._start_subscriber()
        with self._lock:
            found = self._rows.get(key_hash)
        if found is None or found[1] <= time.monotonic() or self._invalidation_waiting():
            return None
        return found[0]

    def put(self, row: KeyRow) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            if len(self._rows) >= MAX_ENTRIES:
                self._rows.clear()
            self._rows[row.key_hash] = (row, time.monotonic() + self.ttl)

    def drop(self, kind: str, ident: int) -> None:
        """Forget the key `ident` (kind "key") or every key of user `ident` ("user")."""
        with self._lock:
            for key_hash, (row, _expires) in list(self._rows.items()):
                if (row.id if kind == "key" else row.user_id) == ident:
                    del self._rows[key_hash]

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()

    def last_used_due(self, key_hash: str) -> bool:
        """True once per LAST_USED_EVERY seconds per key: time to write last_used_at.
        By hash, not id: a key's hash is never another key's (SQLite may reuse an id)."""
        now = time.monotonic()
        with self._lock:
            if now - self._last_used.get(key_hash, -LAST_USED_EVERY) < LAST_USED_EVERY:
                return False
            self._last_used[key_hash] = now
            return True

    # --- the subscriber ---

    def _invalidation_waiting(self) -> bool:
        # Socket first, then the lock: the subscriber empties the socket only while
        # holding the lock, so a message is either still readable or being applied.
        sock = self._sock
        if sock is not None:
            try:
                readable, _, _ = select.select([sock], [], [], 0)
            except (OSError, ValueError):  # closed by the subscriber meanwhile
                return True
            if readable:
                return True
        return self._busy.locked()

    def _start_subscriber(self) -> None:
        if os.getpid() != self._pid:  # forked (gunicorn): the parent's thread is not here
            self._pid, self._thread, self._sock = os.getpid(), None, None
            self._busy, self._lock = threading.Lock(), threading.Lock()
            self.connected = threading.Event()
            self.clear()
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="api-key-invalidations")
                self._thread.start()

    def stop(self) -> None:
        """End the subscriber and close its connection (at shutdown)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread.is_alive():
            thread.join(timeout=RETRY_SECONDS + 2)

    def _run(self) -> None:
        while not self._stop.is_set():
            pubsub: PubSub | None = None
            try:
                pubsub = self._connect().pubsub()  # type: ignore[no-untyped-call]
                pubsub.subscribe(self.channel)
                self._listen(pubsub)
            except (RedisError, OSError, ValueError) as exc:
                log.warning("API key invalidations: %s; cached keys expire after %ss",
                            exc.__class__.__name__, self.ttl)
            finally:
                self._sock = None
                self.connected.clear()
                if pubsub is not None:
                    try:
                        pubsub.close()
                    except (RedisError, OSError):
                        pass
            self._stop.wait(RETRY_SECONDS)

    def _listen(self, pubsub: PubSub) -> None:
        # redis-py declares PubSub.connection as None until the first subscribe.
        connection: Any = pubsub.connection
        while not self._stop.is_set():
            # Read here only to see whether a message waits; taken afresh each time, as
            # redis-py may reconnect (and subscribe again) on its own.
            sock = self._sock = connection._sock if connection is not None else None
            if sock is None:
                return
            select.select([sock], [], [], 0.5)
            with self._busy:
                while (message := pubsub.get_message(timeout=0)) is not None:
                    self._apply(message)

    def _apply(self, message: dict[str, object]) -> None:
        if message["type"] == "subscribe":
            # Changes made while nobody listened are unknown: start afresh.
            self.clear()
            self.connected.set()
            return
        if message["type"] != "message":
            return
        data = message["data"]
        kind, _, ident = (data.decode() if isinstance(data, bytes) else str(data)).partition(" ")
        if kind in ("key", "user") and ident.isdigit():
            self.drop(kind, int(ident))
        else:
            self.clear()


def key_cache(app: Flask | None = None) -> KeyCache:
    """This process's cache of `app` (created on first use)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    cache: KeyCache | None = app.extensions.get("review.key_cache")
    if cache is None:
        cache = KeyCache(settings(app).API_KEY_CACHE_SECONDS, _channel(app),
                         lambda: connect_redis(app, socket_timeout=10))
        cache = app.extensions.setdefault("review.key_cache", cache)
        app.extensions.setdefault("review.redis_closers", []).append(cache.stop)
    return cache


def lookup_key(session: Session, key_hash: str) -> KeyRow | None:
    """The key of `key_hash` with its user, from the cache or one SELECT."""
    cache = key_cache()
    row = cache.get(key_hash)
    if row is not None:
        return row
    found = session.execute(
        sql_select(ApiKey.id, ApiKey.name, ApiKey.scope, ApiKey.key_hash, ApiKey.revoked_at,
                   ApiKey.user_id, User.active, User.role)
        .outerjoin(User, User.id == ApiKey.user_id)
        .where(ApiKey.key_hash == key_hash)).first()
    if found is None:
        return None  # unknown keys are not cached: a key created a moment ago must work
    row = KeyRow(id=found.id, name=found.name, scope=found.scope, key_hash=found.key_hash,
                 revoked=found.revoked_at is not None, user_id=found.user_id,
                 user_active=bool(found.active) if found.user_id is not None else True,
                 user_role=found.role)
    cache.put(row)
    return row


def note_key_used(engine: Engine, key_hash: str, key_id: int,
                  now: datetime | None = None) -> None:
    """Record that the key was used: at most once a minute per key and process, in a
    transaction of its own that waits at most 100 ms for a lock. A usage stamp never
    holds a request back behind a writer (SQLite's one write lock, a row lock on
    PostgreSQL): when busy it is skipped, and the next minute stamps it."""
    if not key_cache().last_used_due(key_hash):
        return
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        try:
            conn.exec_driver_sql("PRAGMA busy_timeout = 100" if sqlite
                                 else "SET LOCAL lock_timeout = '100ms'")
            conn.execute(update(ApiKey).where(ApiKey.id == key_id)
                         .values(last_used_at=now or utcnow()))
            conn.commit()
        except Exception as exc:  # noqa: BLE001 - a usage stamp never fails a request
            conn.rollback()
            log.warning("last_used_at of key %s not written: %s", key_id,
                        exc.__class__.__name__)
        finally:
            if sqlite:  # the pooled connection's own setting, back for the next user
                conn.exec_driver_sql(f"PRAGMA busy_timeout = {SQLITE_BUSY_MS}")
                conn.commit()


def publish_key_change(kind: str, ident: int) -> None:
    """Tell every process that key `ident` (kind "key") or user `ident` ("user") changed.

    Called after the commit. This process forgets the entry at once; the others when the
    message arrives, or within API_KEY_CACHE_SECONDS when Redis is unreachable."""
    if not has_app_context():
        return
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    cache = app.extensions.get("review.key_cache")
    if cache is not None:
        cache.drop(kind, ident)
    try:
        conn = get_redis(app)
        conn.publish(_channel(app), f"{kind} {ident}")
        # Redis writes the PUBLISH reply and the subscribers' messages in the same pass
        # of its event loop, the reply possibly first; a PING answered afterwards proves
        # that pass is over, so every subscriber's socket holds the message before the
        # caller's next request can start.
        conn.ping()
    except (RedisError, OSError) as exc:
        log.warning("API key change not published (%s); other processes see it within %ss",
                    exc.__class__.__name__, settings(app).API_KEY_CACHE_SECONDS)
