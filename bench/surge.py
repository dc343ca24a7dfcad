"""The claim right after a surge (issue 20): 100,000 items arrive in one burst through the
batch API, and reviewers claim at once, with no ANALYZE in between.

The other claim rows measure after `VACUUM ANALYZE`; a real backlog explodes before
autovacuum has looked at the table, and the planner then works from stale statistics.
Used by bench/run.py; not a test.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import psycopg
import requests
from loadgen import paced

BATCH = 500  # the batch API's largest batch
SENDERS = 4  # concurrent batch requests during the burst


def burst(base: str, headers: dict[str, str], item: dict, total: int) -> tuple[float, int]:
    """POST `total` copies of `item` in batches of BATCH from SENDERS threads;
    (seconds taken, entries not created)."""
    batches = [min(BATCH, total - lo) for lo in range(0, total, BATCH)]
    lock, failed = threading.Lock(), [0]
    todo = iter(batches)

    def send() -> None:
        with requests.Session() as session:
            while True:
                with lock:
                    n = next(todo, None)
                if n is None:
                    return
                r = session.post(f"{base}/api/v1/items/batch", headers=headers,
                                 json={"items": [item] * n}, timeout=120)
                created = r.json().get("summary", {}).get("created", 0) if r.ok else 0
                with lock:
                    failed[0] += n - created

    started = time.perf_counter()
    threads = [threading.Thread(target=send) for _ in range(SENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, failed[0]


def last_analyzed(db_url: str) -> str:
    """When `items` was last analyzed (by hand or autovacuum), as PostgreSQL says."""
    with psycopg.connect(db_url) as conn:
        manual, auto = conn.execute(
            "SELECT last_analyze, last_autoanalyze FROM pg_stat_user_tables"
            " WHERE relname = 'items'").fetchone()
    stamps = [s for s in (manual, auto) if s is not None]
    return f"{max(stamps):%H:%M:%S}" if stamps else "never"


def surge_claims(base: str, headers: dict[str, str], item: dict, db_url: str,
                 step: Callable[[requests.Session], bool], claim_ms: list[float],
                 seconds: float, reviewers: int, think: float,
                 total: int = 100_000) -> dict[str, object]:
    """Burst `total` items into item["queue"], then reviewers claim from it at once."""
    before = last_analyzed(db_url)
    took, failed = burst(base, headers, item, total)
    res = paced(step, seconds=seconds, workers=reviewers, rate=reviewers / think)
    return {"total": total, "burst_seconds": took, "failed": failed, "claims": len(claim_ms),
            "rate": len(claim_ms) / res.seconds if res.seconds else 0.0,
            "errors": res.errors, "analyzed_before": before,
            "analyzed_after": last_analyzed(db_url)}
