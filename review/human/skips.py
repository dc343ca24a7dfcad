"""Skips: an item a reviewer skipped stays away from that reviewer for a while.

Skip releases the item to the queue (others may take it at once) and records
it in a Redis sorted set per reviewer and queue, scored by when the skip ends
(`SKIP_COOLDOWN_SECONDS`). `claim_next` leaves those items out for that
reviewer, so skip A, decide B, and the next item is C, not A again.

Fails open: when Redis is down (or there is no app, e.g. a bare script) a skip
is not remembered and claiming ignores skips; after a failure Redis is not asked
again for BACKOFF_SECONDS, so claims never wait on its timeout one after another.
The database stays the source of truth; a skip is a preference, never a lock.
"""

from __future__ import annotations

import time

from flask import has_app_context
from redis.exceptions import RedisError

from review.core.jobs import get_redis
from review.core.settings import settings

# The most skips kept per reviewer and queue; older ones are forgotten first.
MAX_SKIPS = 200
# After Redis failed, skips are ignored this long instead of every claim waiting on its
# connect timeout again (claims must not slow down while Redis is away).
BACKOFF_SECONDS = 30.0
_down_until = [0.0]


def _available() -> bool:
    return has_app_context() and time.monotonic() >= _down_until[0]


def _failed() -> None:
    _down_until[0] = time.monotonic() + BACKOFF_SECONDS


def _key(user_id: int, queue_id: int) -> str:
    return f"{settings().REDIS_PREFIX}:skip:{queue_id}:{user_id}"


def cooldown_seconds() -> int:
    return max(0, int(settings().SKIP_COOLDOWN_SECONDS))


def remember_skip(user_id: int, queue_id: int, item_id: str) -> bool:
    """Keep `item_id` away from the reviewer until the cooldown ends; False if not recorded."""
    seconds = cooldown_seconds()
    if not seconds or not _available():
        return False
    key = _key(user_id, queue_id)
    now = time.time()
    try:
        pipe = get_redis().pipeline()
        pipe.zremrangebyscore(key, "-inf", now)
        pipe.zadd(key, {item_id: now + seconds})
        pipe.zremrangebyrank(key, 0, -MAX_SKIPS - 1)
        pipe.expire(key, seconds + 1)
        pipe.execute()
    except (RedisError, OSError):
        _failed()
        return False
    return True


def skipped(user_id: int, queue_id: int) -> dict[str, float]:
    """The reviewer's live skips in the queue: item id -> seconds until it comes back."""
    if not _available():
        return {}
    now = time.time()
    try:
        rows = get_redis().zrangebyscore(_key(user_id, queue_id), now, "+inf", withscores=True)
    except (RedisError, OSError):
        _failed()
        return {}
    return {(raw.decode() if isinstance(raw, bytes) else str(raw)): until - now
            for raw, until in rows}


def forget_skips(user_id: int, queue_id: int) -> None:
    """Bring every skipped item back for the reviewer (e.g. "show me skipped items now")."""
    if not _available():
        return
    try:
        get_redis().delete(_key(user_id, queue_id))
    except (RedisError, OSError):
        _failed()
