"""Skips: an item a reviewer skipped stays away from that reviewer for a while.

Skip releases the item to the queue (others may take it at once) and records
it in a Redis sorted set per reviewer and queue, scored by when the skip ends
(`SKIP_COOLDOWN_SECONDS`). `claim_next` leaves those items out for that
reviewer, so skip A, decide B, and the next item is C, not A again.

Fails open: when Redis is down (or there is no app, e.g. a bare script) a skip
is not remembered and claiming ignores skips. The database stays the source of
truth; a skip is a preference, never a lock.
"""

from __future__ import annotations

import time

from flask import has_app_context
from redis.exceptions import RedisError

from review.core.jobs import get_redis
from review.core.settings import settings

# The most skips kept per reviewer and queue; older ones are forgotten first.
MAX_SKIPS = 200


def _key(user_id: int, queue_id: int) -> str:
    return f"{settings().REDIS_PREFIX}:skip:{queue_id}:{user_id}"


def cooldown_seconds() -> int:
    return max(0, int(settings().SKIP_COOLDOWN_SECONDS))


def remember_skip(user_id: int, queue_id: int, item_id: str) -> bool:
    """Keep `item_id` away from the reviewer until the cooldown ends; False if not recorded."""
    seconds = cooldown_seconds()
    if not seconds or not has_app_context():
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
        return False
    return True


def skipped(user_id: int, queue_id: int) -> dict[str, float]:
    """The reviewer's live skips in the queue: item id -> seconds until it comes back."""
    if not has_app_context():
        return {}
    now = time.time()
    try:
        rows = get_redis().zrangebyscore(_key(user_id, queue_id), now, "+inf", withscores=True)
    except (RedisError, OSError):
        return {}
    return {(raw.decode() if isinstance(raw, bytes) else str(raw)): until - now
            for raw, until in rows}


def forget_skips(user_id: int, queue_id: int) -> None:
    """Bring every skipped item back for the reviewer (e.g. "show me skipped items now")."""
    if not has_app_context():
        return
    try:
        get_redis().delete(_key(user_id, queue_id))
    except (RedisError, OSError):
        return
