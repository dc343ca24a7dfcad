"""Fixed-window rate limits kept in Redis, shared by every web process.

Fails open: when Redis is down, ingest keeps working (the database is the
source of truth and must not be starved by the limiter).
"""

from __future__ import annotations

import time

from redis.exceptions import RedisError

from review.core.errors import RateLimited
from review.core.jobs import get_redis
from review.core.settings import settings


def _key(bucket: str, window_start: int) -> str:
    return f"{settings().REDIS_PREFIX}:rl:{bucket}:{window_start}"


def hit(bucket: str, limit: int, window: int) -> tuple[bool, int]:
    """Count one hit; return (allowed, seconds until the window resets)."""
    now = int(time.time())
    start = now - now % window
    key = _key(bucket, start)
    try:
        pipe = get_redis().pipeline()
        pipe.incr(key)
        pipe.expire(key, window + 1)
        count = pipe.execute()[0]
    except (RedisError, OSError):
        return True, 0
    return count <= limit, start + window - now


def enforce(bucket: str, limit: int, window: int) -> None:
    allowed, retry_after = hit(bucket, limit, window)
    if not allowed:
        raise RateLimited("rate_limited",
                          f"Too many requests: at most {limit} per {window} s. "
                          f"Retry in {retry_after} s.", max(1, retry_after))


def reset(bucket: str, window: int) -> None:
    now = int(time.time())
    try:
        get_redis().delete(_key(bucket, now - now % window))
    except (RedisError, OSError):
        pass
