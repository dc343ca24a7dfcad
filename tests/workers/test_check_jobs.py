"""Nothing is lost when Redis or a worker dies: real `review worker` processes,
a real Redis, a real local HTTP checker, and the sweeper."""

from __future__ import annotations

import os
import signal
import threading
from datetime import timedelta

from rq.job import Job
from sqlalchemy import func, select

from review.core.clock import utcnow
from review.core.models import Item, ItemEvent
from review.core.settings import settings
from tests.conftest import free_port, make_config

AMBIGUOUS = 0.75
PASSING = {"type": "policy", "max_output_chars": 500}  # local, passes short answers


def submit(client, auth, n: int = 1) -> list[str]:
    ids = []
    for i in range(n):
        resp = client.post("/api/v1/items", headers=auth, json={
            "queue": "checked", "output": f"Answer {i}.", "confidence": AMBIGUOUS})
        assert resp.status_code == 201, resp.get_json()
        assert resp.get_json()["status"] == "checking"
        ids.append(resp.get_json()["id"])
    return ids


def decided_counts(db, ids: list[str]) -> dict[str, int]:
    db.rollback()
    rows = db.execute(select(ItemEvent.item_id, func.count()).where(
        ItemEvent.item_id.in_(ids), ItemEvent.kind == "decided").group_by(ItemEvent.item_id))
    counts = dict.fromkeys(ids, 0)
    counts.update({item_id: n for item_id, n in rows})
    return counts


def statuses(db, ids: list[str]) -> dict[str, str]:
    db.rollback()
    return dict(db.execute(select(Item.id, Item.status).where(Item.id.in_(ids))).all())


def sweep_at(app, now):
    from review.core.db import get_session
    from review.ops.sweeper import sweep

    with app.app_context():
        return sweep(get_session(), now=now)


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (RQ's work horse runs in its own process group)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_tree(pid: int) -> None:
    for victim in [pid, *descendants(pid)]:
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            pass


def finish(proc, timeout: float = 120) -> str:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out
    return out


def test_worker_killed_mid_check_then_every_item_is_decided_exactly_once(
        app, client, auth, db, make_queue, http_receiver, worker_process):
    hanging = threading.Event()
    hanging.set()

    def judge(_request):
        if hanging.is_set():
            judge_server.release.wait(60)  # hang until the test lets go
        return 200, {"verdict": "pass", "score": 0.9}

    judge_server = http_receiver(judge)
    make_queue("checked", audit_rate=0.0,
               checker={"type": "http", "url": judge_server.url, "timeout": 30, "retries": 0})
    ids = submit(client, auth, 5)

    worker = worker_process()
    judge_server.wait_for(1, timeout=60)  # the worker is now mid-check on one item
    assert len(judge_server.requests) == 1
    kill_tree(worker.pid)  # the worker, its scheduler and its work horse
    worker.wait(timeout=30)
    hanging.clear()
    judge_server.release.set()

    # A new worker does the checks still queued; the killed one's job is gone with it.
    finish(worker_process("--burst"))
    left = [i for i, s in statuses(db, ids).items() if s == "checking"]
    assert len(left) == 1

    # The sweeper finds it once its job is past any chance of finishing.
    from review.intake.secondary_check import check_job_timeout

    with app.app_context():
        limit = check_job_timeout({"type": "http", "timeout": 30, "retries": 0})
    later = utcnow() + timedelta(seconds=max(limit, settings(app).CHECK_STALE_SECONDS) + 1)
    report = sweep_at(app, later)
    assert report.checks_requeued == left
    finish(worker_process("--burst"))

    assert set(statuses(db, ids).values()) == {"approved"}
    assert decided_counts(db, ids) == dict.fromkeys(ids, 1)
    db.rollback()
    assert db.get(Item, left[0]).check_attempts == 2

    # Duplicate jobs (a sweeper racing a slow worker) decide nothing again.
    from review.intake.secondary_check import enqueue_check

    with app.app_context():
        for item_id in ids:
            assert enqueue_check(item_id)
    finish(worker_process("--burst"))
    assert decided_counts(db, ids) == dict.fromkeys(ids, 1)


def test_ingest_works_while_redis_is_down_and_the_sweeper_catches_up(
        app, client, auth, db, make_queue, rq_worker, database_url, instance_dir):
    from app import create_app
    from review.core.jobs import CHECKS, rq_queue

    make_queue("checked", audit_rate=0.0, checker=PASSING)
    dead = make_config(database_url, f"redis://127.0.0.1:{free_port()}/0", instance_dir,
                       REDIS_PREFIX=settings(app).REDIS_PREFIX)
    down_app = create_app(dead)
    try:
        [item_id] = submit(down_app.test_client(), auth)
    finally:
        down_app.extensions["review.engine"].dispose()
    with app.app_context():
        assert rq_queue(CHECKS).count == 0  # nothing reached Redis
    rq_worker()
    assert statuses(db, [item_id]) == {item_id: "checking"}

    # Not stale yet: the sweeper leaves it alone.
    assert sweep_at(app, utcnow()).checks_requeued == []
    # Redis is back (the app's own); once stale, the sweeper enqueues it, once.
    later = utcnow() + timedelta(seconds=settings(app).CHECK_STALE_SECONDS + 1)
    assert sweep_at(app, later).checks_requeued == [item_id]
    assert sweep_at(app, later).checks_requeued == []  # its job is queued now
    rq_worker()
    assert statuses(db, [item_id]) == {item_id: "approved"}
    assert decided_counts(db, [item_id]) == {item_id: 1}


def test_sweeper_reports_redis_down_and_changes_nothing(app, client, auth, db, make_queue,
                                                        database_url, instance_dir):
    from app import create_app
    from review.core.db import get_session
    from review.ops.sweeper import sweep

    make_queue("checked", audit_rate=0.0, checker=PASSING)
    [item_id] = submit(client, auth)
    dead = make_config(database_url, f"redis://127.0.0.1:{free_port()}/0", instance_dir)
    down_app = create_app(dead)
    try:
        with down_app.app_context():
            report = sweep(get_session(), now=utcnow() + timedelta(days=1))
    finally:
        down_app.extensions["review.engine"].dispose()
    assert report.redis_error and report.checks_requeued == []
    assert statuses(db, [item_id]) == {item_id: "checking"}


def test_a_flushed_job_is_re_enqueued(app, client, auth, db, make_queue, rq_worker):
    """Redis lost the job (flushed, evicted): the deterministic id finds nothing; re-enqueue."""
    from review.core.jobs import CHECKS, get_redis, rq_queue
    from review.intake.secondary_check import check_job_id

    make_queue("checked", audit_rate=0.0, checker=PASSING)
    [item_id] = submit(client, auth)
    later = utcnow() + timedelta(seconds=settings(app).CHECK_STALE_SECONDS + 1)
    with app.app_context():
        queue = rq_queue(CHECKS)
        assert queue.job_ids == [check_job_id(item_id)]
        assert sweep_at(app, later).checks_requeued == []  # queued: still on its way
        # What a flush does to this job (not FLUSHDB: other test runs share the server).
        Job.fetch(check_job_id(item_id), connection=get_redis()).delete()
        assert queue.job_ids == []
    assert sweep_at(app, later).checks_requeued == [item_id]
    rq_worker()
    assert statuses(db, [item_id]) == {item_id: "approved"}
    assert decided_counts(db, [item_id]) == {item_id: 1}
