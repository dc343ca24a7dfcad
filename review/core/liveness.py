"""Is background work alive? RQ workers and the periodic scheduler.

Workers prove themselves through RQ's own worker registry (each worker
refreshes `last_heartbeat` while it runs). The periodic scheduler proves
itself by the heartbeat key its alert job writes on every run
(`<prefix>:heartbeat:periodic`): if that key grows old, periodic jobs stopped
being enqueued or run, whatever the workers say.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from redis.exceptions import RedisError
from rq import Worker

from review.core.jobs import DEFAULT, get_redis, rq_queue
from review.core.settings import settings

PERIODIC = "periodic"


def heartbeat_key(name: str) -> str:
    return f"{settings().REDIS_PREFIX}:heartbeat:{name}"


def record_heartbeat(name: str = PERIODIC, now: float | None = None) -> None:
    """Write the heartbeat (a UNIX time) for a day; best effort like all Redis writes."""
    try:
        get_redis().set(heartbeat_key(name), f"{time.time() if now is None else now:.3f}",
                        ex=86400)
    except (RedisError, OSError):
        pass


@dataclass(frozen=True)
class Liveness:
    redis_ok: bool
    workers_alive: int
    newest_worker_age: float | None  # seconds since the freshest worker heartbeat
    scheduler_age: float | None  # seconds since the periodic heartbeat; None: never seen


def liveness(now: float | None = None) -> Liveness:
    """Ages of the worker and scheduler heartbeats, as of `now` (UNIX time)."""
    now = time.time() if now is None else now
    timeout = float(settings().HEARTBEAT_TIMEOUT)
    try:
        raw = get_redis().get(heartbeat_key(PERIODIC))
        workers = Worker.all(connection=get_redis(), queue=rq_queue(DEFAULT))
    except (RedisError, OSError):
        return Liveness(False, 0, None, None)
    ages = [now - w.last_heartbeat.timestamp() for w in workers if w.last_heartbeat]
    return Liveness(
        redis_ok=True,
        workers_alive=sum(age <= timeout for age in ages),
        newest_worker_age=min(ages) if ages else None,
        scheduler_age=now - float(raw) if raw is not None else None,
    )
