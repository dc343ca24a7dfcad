"""Fixed-window rate limits kept in Redis, shared by every web process.

Ingest's limit fails open: when Redis is down, ingest keeps working (the
database is the source of truth and must not be starved by the limiter).
A limit that guards a secret (login) fails closed instead: `fail_closed`
raises LimiterUnavailable, since without its counts the limit would let a
password guesser try at full speed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from redis.exceptions import RedisError

from review.core.errors import RateLimited
from review.core.jobs import get_redis
from review.core.settings import settings


class LimiterUnavailable(Exception):
    """Redis, which holds the counts, cannot be reached, and the limit fails closed."""

    retry_after = 30


@dataclass(frozen=True)
class Hit:
    """One counted hit: whether it was within the limit, and which window held it."""

    key: str
    allowed: bool
    retry_after: int  # seconds until the window resets
    window: int


def _key(bucket: str, window_start: int) -> str:
    return f"{settings().REDIS_PREFIX}:rl:{bucket}:{window_start}"


def count_hit(bucket: str, limit: int, window: int, *, fail_closed: bool = False) -> Hit:
    """Count one hit in the current window of `bucket`."""
    now = int(time.time())
    start = now - now % window
    key = _key(bucket, start)
    try:
        pipe = get_redis().pipeline()
        pipe.incr(key)
        pipe.expire(key, window + 1)
        count = pipe.execute()[0]
    except (RedisError, OSError) as exc:
        if fail_closed:
            raise LimiterUnavailable(str(exc)) from exc
        return Hit(key, True, 0, window)
    return Hit(key, count <= limit, start + window - now, window)


def hit(bucket: str, limit: int, window: int) -> tuple[bool, int]:
    """Count one hit; return (allowed, seconds until the window resets). Fails open."""
    counted = count_hit(bucket, limit, window)
    return counted.allowed, counted.retry_after


def undo(counted: Hit) -> None:
    """Take back a hit that turned out not to count (a successful login)."""
    try:
        pipe = get_redis().pipeline()
        pipe.decr(counted.key)
        # The key may have expired meanwhile: DECR would then leave -1 for good.
        pipe.expire(counted.key, counted.window + 1)
        pipe.execute()
    except (RedisError, OSError):
        pass  # the hit stays counted until its window ends: the safe side


def enforce(bucket: str, limit: int, window: int) -> None:
    allowed, retry_after = hit(bucket, limit, window)
    if not allowed:
        raise limited(limit, window, retry_after)


def limited(limit: int, window: int, retry_after: int) -> RateLimited:
    return RateLimited("rate_limited",
                       f"Too many requests: at most {limit} per {window} s. "
                       f"Retry in {retry_after} s.", max(1, retry_after))


def reset(bucket: str, window: int) -> None:
    now = int(time.time())
    try:
        get_redis().delete(_key(bucket, now - now % window))
    except (RedisError, OSError):
        pass
