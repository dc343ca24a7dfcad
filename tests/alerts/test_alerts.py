"""Operational alerts: each condition opens one episode, resolves when it clears, is
notified once by a signed POST, and the periodic job is the scheduler's heartbeat."""

from __future__ import annotations

import itertools
import os
import signal
import time
from datetime import timedelta

import pytest
from sqlalchemy import insert, select

from review.core.clock import utcnow
from review.core.liveness import Liveness
from review.core.models import Alert, Item
from review.core.settings import settings
from tests.webhooks.test_webhooks import receiver_verifies

ALIVE = Liveness(redis_ok=True, workers_alive=1, newest_worker_age=1.0, scheduler_age=1.0)
_ids = itertools.count(1)


def add_items(db, queue, count: int, **fields) -> list[str]:
    now = utcnow()
    rows = []
    for _ in range(count):
        row = dict(id=f"al{next(_ids):08d}", queue_id=queue.id, submitter="up", body_hash="0",
                   status="pending", route_path="human", route_reasons=[], confidence=0.3,
                   created_at=now - timedelta(minutes=5), due_at=now + timedelta(hours=1),
                   output="x", context=[], meta={})
        row.update(fields)
        rows.append(row)
    db.execute(insert(Item), rows)
    db.commit()
    return [r["id"] for r in rows]


def evaluate(app, now=None, alive=ALIVE):
    from review.alerts.rules import evaluate_alerts
    from review.core.db import get_session

    with app.app_context():
        return evaluate_alerts(get_session(), now or utcnow(), alive)


def alerts(db) -> list[tuple[str, bool]]:
    db.rollback()
    return [(a.episode_key, a.resolved_at is None)
            for a in db.scalars(select(Alert).order_by(Alert.id))]


def test_backlog_above_cap_opens_once_resolves_and_reopens(app, db, make_queue):
    queue = make_queue("capped", backlog_cap=2, sla_seconds=86400)
    ids = add_items(db, queue, 3)
    report = evaluate(app)
    assert report.opened == ["backlog_cap:capped"]
    assert evaluate(app).opened == []  # still holding: the same episode
    assert alerts(db) == [("backlog_cap:capped", True)]
    db.execute(Item.__table__.update().where(Item.id == ids[0]).values(
        status="approved", decided_at=utcnow(), decided_by_kind="reviewer"))
    db.commit()
    assert evaluate(app).resolved == ["backlog_cap:capped"]
    assert alerts(db) == [("backlog_cap:capped", False)]
    add_items(db, queue, 1)
    assert evaluate(app).opened == ["backlog_cap:capped"]
    assert alerts(db) == [("backlog_cap:capped", False), ("backlog_cap:capped", True)]
    [first, _second] = db.scalars(select(Alert).order_by(Alert.id)).all()
    assert "backlog 3 is above its cap of 2" in first.message


def test_projected_clear_time_above_the_sla(app, db, make_queue):
    queue = make_queue("slow", sla_seconds=3600)
    now = utcnow()
    add_items(db, queue, 10)
    # Two human decisions in the last hour: 10 waiting clear in 5 h > the 1 h SLA.
    add_items(db, queue, 2, status="approved", decided_at=now - timedelta(minutes=10),
              decided_by_kind="reviewer", decision_outcome="approve")
    report = evaluate(app, now)
    assert report.opened == ["clear_time:slow"]
    [alert] = db.scalars(select(Alert)).all()
    assert alert.data["projected_clear_seconds"] == pytest.approx(5 * 3600)
    # Faster decisions: 20 in the last hour clear 10 in 30 min; the episode resolves.
    add_items(db, queue, 18, status="approved", decided_at=now - timedelta(minutes=5),
              decided_by_kind="reviewer", decision_outcome="approve")
    assert evaluate(app, now).resolved == ["clear_time:slow"]


def test_nothing_decided_for_an_hour_while_items_wait(app, db, make_queue):
    queue = make_queue("idle", sla_seconds=86400)
    now = utcnow()
    add_items(db, queue, 1, created_at=now - timedelta(minutes=30))
    assert evaluate(app, now).opened == []  # young backlog: no rate to judge yet
    add_items(db, queue, 1, created_at=now - timedelta(minutes=90))
    # Nobody decided for longer than ALERT_STALLED_AFTER either: the queue is stalled.
    assert evaluate(app, now).opened == ["clear_time:idle", "stalled:idle"]
    assert "never at this rate" in db.scalars(
        select(Alert).where(Alert.kind == "clear_time")).one().message


def test_a_stalled_queue_alerts_before_anyone_decides(app, db, make_queue, monkeypatch):
    """Items pending and no human decision for ALERT_STALLED_AFTER: `stalled`, even with
    every item breached and no decision ever made (the clear-time rule waits an hour, the
    breach rate needs decisions). A decision by a person resolves it; the router's
    auto-approvals do not count as someone working the queue."""
    monkeypatch.setattr(settings(app), "ALERT_STALLED_AFTER", 600)
    queue = make_queue("stuck", sla_seconds=300)
    now = utcnow()
    add_items(db, queue, 5, created_at=now - timedelta(minutes=9),
              due_at=now - timedelta(minutes=4), sla_state="breached")
    assert evaluate(app, now).opened == []  # the oldest waited 9 min < 10 min
    add_items(db, queue, 3, created_at=now - timedelta(minutes=11),
              due_at=now - timedelta(minutes=6), sla_state="breached")
    add_items(db, queue, 4, status="approved", decided_at=now - timedelta(minutes=1),
              decided_by_kind="router", decision_outcome="approve")
    report = evaluate(app, now)
    assert report.opened == ["stalled:stuck"]
    alert = db.scalars(select(Alert).where(Alert.kind == "stalled")).one()
    assert alert.data["pending"] == 8 and alert.data["stalled_after_seconds"] == 600
    assert "nobody decided anything for 10 min" in alert.message
    add_items(db, queue, 1, status="approved", decided_at=now - timedelta(minutes=2),
              decided_by_kind="reviewer", decision_outcome="approve")
    assert evaluate(app, now).resolved == ["stalled:stuck"]
    monkeypatch.setattr(settings(app), "ALERT_STALLED_AFTER", 0)  # off
    assert evaluate(app, now + timedelta(hours=1)).opened == []



def test_clear_time_waits_for_evidence_after_start_up(app, db, make_queue):
    """A minute after start-up, one decision read as "1 an hour" projected 10 waiting
    items to clear in 10 h: the rate is judged only once watched for MIN_RATE_SPAN."""
    from review.alerts.rules import MIN_RATE_SPAN

    queue = make_queue("fresh", sla_seconds=3600)
    start = utcnow()
    add_items(db, queue, 10, created_at=start)
    decided = dict(status="approved", created_at=start, decided_by_kind="reviewer",
                   decision_outcome="approve")
    add_items(db, queue, 1, decided_at=start + timedelta(seconds=30), **decided)
    assert evaluate(app, start + timedelta(minutes=1)).opened == []
    # More decisions in that first minute are no more evidence of the pace.
    add_items(db, queue, 2, decided_at=start + timedelta(seconds=50), **decided)
    assert evaluate(app, start + timedelta(minutes=1)).opened == []
    assert evaluate(app, start + MIN_RATE_SPAN - timedelta(seconds=1)).opened == []
    # Watched long enough, 3 decisions in 5 minutes against 10 waiting: it fires.
    report = evaluate(app, start + MIN_RATE_SPAN)
    assert report.opened == ["clear_time:fresh"]
    assert db.scalars(select(Alert)).one().data["decisions_per_hour"] == 3


def test_a_holding_episode_keeps_its_text_and_figures_current(app, db, make_queue):
    from review.core.clock import isoformat

    queue = make_queue("busy", backlog_cap=2, sla_seconds=86400)
    ids = add_items(db, queue, 4)
    opened = utcnow()
    assert evaluate(app, opened).opened == ["backlog_cap:busy"]
    db.execute(Item.__table__.update().where(Item.id == ids[0]).values(
        status="approved", decided_at=opened, decided_by_kind="reviewer"))
    db.commit()
    later = opened + timedelta(minutes=1)
    assert evaluate(app, later).opened == []
    [alert] = db.scalars(select(Alert)).all()
    assert alert.message == "Queue busy: backlog 3 is above its cap of 2."
    assert alert.data == {"queue": "busy", "backlog": 3, "cap": 2, "as_of": isoformat(later)}
    assert (alert.opened_at, alert.resolved_at) == (opened, None)


def test_breach_rate_above_threshold(app, db, make_queue, monkeypatch):
    monkeypatch.setattr(settings(app), "ALERT_BREACH_RATE", 0.2)
    queue = make_queue("late", sla_seconds=600)
    now = utcnow()
    decided = dict(status="approved", decided_by_kind="reviewer", decision_outcome="approve",
                   decided_at=now - timedelta(minutes=20))
    add_items(db, queue, 8, due_at=now - timedelta(minutes=10), **decided)  # on time
    add_items(db, queue, 2, due_at=now - timedelta(minutes=30), **decided)  # late: 20%
    assert evaluate(app, now).opened == []  # 20% is not above 20%
    add_items(db, queue, 1, due_at=now - timedelta(minutes=30), **decided)
    report = evaluate(app, now)
    assert report.opened == ["breach_rate:late"]
    assert db.scalars(select(Alert)).one().data["late"] == 3
    # An hour later those decisions left the window: resolved.
    assert evaluate(app, now + timedelta(hours=1)).resolved == ["breach_rate:late"]


@pytest.mark.parametrize(("alive", "keys"), [
    (Liveness(False, 0, None, None), ["worker_silent"]),
    (Liveness(True, 0, 900.0, 1.0), ["worker_silent"]),
    (Liveness(True, 1, 1.0, None), ["scheduler_silent"]),
    (Liveness(True, 2, 1.0, 1000.0), ["scheduler_silent"]),
])
def test_silent_worker_or_scheduler(app, db, alive, keys):
    assert evaluate(app, alive=alive).opened == keys
    assert evaluate(app, alive=ALIVE).resolved == keys


def test_two_evaluators_open_one_episode(app, db, make_queue):
    from review.alerts.episodes import Condition, open_episode
    from review.core.db import session_scope

    condition = Condition("backlog_cap", "backlog_cap:x", "too many")
    with app.app_context():
        with session_scope() as one, session_scope() as two:
            assert open_episode(one, condition, utcnow()) is not None
            assert open_episode(two, condition, utcnow()) is None
    assert alerts(db) == [("backlog_cap:x", True)]


def test_an_episode_is_posted_once_signed(app, db, make_queue, http_receiver, rq_worker,
                                          monkeypatch):
    receiver = http_receiver()
    monkeypatch.setattr(settings(app), "ALERT_WEBHOOK_URL", receiver.url)
    monkeypatch.setattr(settings(app), "WEBHOOK_SECRET", "whsec_ops")
    queue = make_queue("posted", backlog_cap=1, sla_seconds=86400)
    add_items(db, queue, 2)
    evaluate(app)
    evaluate(app)
    rq_worker()
    assert len(receiver.requests) == 1
    [request] = receiver.requests
    body = request.json()
    assert body["type"] == "alert.backlog_cap"
    assert body["alert"]["key"] == "backlog_cap:posted"
    assert receiver_verifies("whsec_ops", request.headers["X-Review-Signature"], request.body)
    assert db.scalars(select(Alert)).one().notified_at is not None


def test_real_liveness_with_no_worker(database_url, redis_url, instance_dir):
    """A Redis prefix no worker ever used: nobody alive, no scheduler heartbeat."""
    import secrets

    from app import create_app
    from review.core.liveness import liveness
    from tests.conftest import make_config

    lonely = create_app(make_config(database_url, redis_url, instance_dir,
                                    REDIS_PREFIX=f"rvtest-lonely-{secrets.token_hex(4)}"))
    with lonely.app_context():
        alive = liveness()
    assert (alive.redis_ok, alive.workers_alive, alive.scheduler_age) == (True, 0, None)


def test_the_periodic_job_beats_and_real_liveness_sees_a_worker(app, db, worker_process):
    from review.core.liveness import liveness
    from workers import set_app
    from workers.alerts import evaluate as job

    set_app(app)
    job()  # what the worker runs each ALERT_EVAL_INTERVAL: it beats, then evaluates
    with app.app_context():
        assert 0 <= liveness().scheduler_age < 60
    proc = worker_process()
    deadline = time.monotonic() + 60
    with app.app_context():
        while liveness().workers_alive == 0 and time.monotonic() < deadline:
            assert proc.poll() is None
            time.sleep(0.2)
        assert liveness().workers_alive >= 1
    job()
    assert all(key != "worker_silent" or not still_open for key, still_open in alerts(db))
    assert all(key != "scheduler_silent" or not still_open for key, still_open in alerts(db))
    os.killpg(proc.pid, signal.SIGKILL)  # its process group: the work horse too
    proc.wait(timeout=30)
    with app.app_context():
        # The worker's ticker claimed this run's periodic slots: free them for other tests.
        from review.core.jobs import get_redis

        prefix = settings(app).REDIS_PREFIX
        for key in get_redis().scan_iter(f"{prefix}:periodic:*"):
            get_redis().delete(key)
