"""The SLA clock: at risk, breached, lease release, alerts once per item per
state, and the periodic run inside `review worker` (no system cron)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from review.core.clock import utcnow
from review.core.models import Alert, Item, ItemEvent, WebhookDelivery
from review.core.settings import settings
from tests.webhooks.test_webhooks import receiver_verifies


@pytest.fixture(autouse=True)
def sla_queue(make_queue):
    return make_queue("slaq", audit_rate=0.0, sla_seconds=100)


def submit(client, auth, **fields) -> Item:
    body = {"queue": "slaq", "output": "Hello.", "confidence": 0.2, "priority": 50}
    body.update(fields)
    resp = client.post("/api/v1/items", json=body, headers=auth)
    assert resp.status_code == 201 and resp.get_json()["status"] == "pending"
    return resp.get_json()["id"]


def load(db, item_id: str) -> Item:
    db.rollback()
    return db.get(Item, item_id, populate_existing=True)


def tick_at(app, now):
    from review.core.db import get_session
    from review.ops.sla_clock import tick

    with app.app_context():
        return tick(get_session(), now)


def kinds(db, model, **where) -> list[str]:
    db.rollback()
    query = select(model)
    for name, value in where.items():
        query = query.where(getattr(model, name) == value)
    return sorted(row.kind for row in db.scalars(query))


def test_at_risk_then_breached_each_alerted_once(app, client, auth, db, http_receiver,
                                                 rq_worker, monkeypatch):
    receiver = http_receiver()
    monkeypatch.setattr(settings(app), "ALERT_WEBHOOK_URL", receiver.url)
    monkeypatch.setattr(settings(app), "WEBHOOK_SECRET", "whsec_alerts")
    # The alert URL is the operator's own configuration: not subject to the SSRF guard.
    monkeypatch.setattr(settings(app), "ALLOWED_CALLBACK_HOSTS", [])
    item_id = submit(client, auth)
    created = load(db, item_id).created_at
    assert load(db, item_id).due_at == created + timedelta(seconds=100)

    assert tick_at(app, created + timedelta(seconds=79)).at_risk == []
    report = tick_at(app, created + timedelta(seconds=81))
    assert (report.at_risk, report.breached) == ([item_id], [])
    item = load(db, item_id)
    assert (item.sla_state, item.priority) == ("at_risk", 60)
    assert tick_at(app, created + timedelta(seconds=95)).at_risk == []

    report = tick_at(app, created + timedelta(seconds=101))
    assert (report.at_risk, report.breached) == ([], [item_id])
    item = load(db, item_id)
    assert (item.sla_state, item.priority) == ("breached", 80)
    assert item.version == 1  # the clock never makes a reviewer's decision conflict
    later = tick_at(app, created + timedelta(seconds=500))
    assert (later.at_risk, later.breached) == ([], [])

    assert kinds(db, Alert, item_id=item_id) == ["sla_at_risk", "sla_breached"]
    assert all(a.notified_at is not None for a in db.scalars(select(Alert)))
    assert [k for k in kinds(db, ItemEvent, item_id=item_id) if k.startswith("sla_")] == \
        ["sla_at_risk", "sla_breached"]

    rq_worker()
    assert sorted(r.json()["type"] for r in receiver.requests) == \
        ["alert.sla_at_risk", "alert.sla_breached"]
    for request in receiver.requests:
        assert request.headers["X-Review-Signer"] == "instance"
        assert receiver_verifies("whsec_alerts", request.headers["X-Review-Signature"],
                                 request.body)
        assert request.json()["alert"]["item_id"] == item_id


def test_an_item_past_due_at_once_is_only_reported_breached(app, client, auth, db):
    item_id = submit(client, auth)
    created = load(db, item_id).created_at
    report = tick_at(app, created + timedelta(seconds=150))
    assert (report.at_risk, report.breached) == ([], [item_id])
    assert kinds(db, Alert) == ["sla_breached"]
    assert load(db, item_id).priority == 70


def test_no_alert_url_still_opens_the_alert(app, client, auth, db):
    item_id = submit(client, auth)
    tick_at(app, load(db, item_id).created_at + timedelta(seconds=150))
    [alert] = db.scalars(select(Alert)).all()
    assert alert.notified_at is None and alert.resolved_at is None
    assert alert.episode_key == f"sla_breached:{item_id}"
    assert "missed its SLA" in alert.message
    assert db.scalars(select(WebhookDelivery)).all() == []


def test_decided_items_are_left_alone_and_their_alerts_resolve(app, client, auth, db):
    from review.core.db import get_session
    from review.human.decisions import record_decision

    item_id = submit(client, auth)
    other = submit(client, auth, output="Bye.")
    created = load(db, item_id).created_at
    tick_at(app, created + timedelta(seconds=85))
    with app.app_context():
        session = get_session()
        record_decision(session, session.get(Item, item_id), outcome="approve",
                        decided_by="ann", kind="reviewer")
        session.commit()
    report = tick_at(app, created + timedelta(seconds=500))
    assert report.breached == [other]
    assert report.alerts_resolved == 1
    assert load(db, item_id).sla_state == "at_risk"
    db.rollback()
    resolved = db.scalars(select(Alert).where(Alert.item_id == item_id)).one()
    assert resolved.resolved_at is not None


def test_expired_leases_are_released(app, client, auth, db, make_user):
    reviewer = make_user("ann", "reviewer", queues=("slaq",))
    expired, live = submit(client, auth), submit(client, auth, output="Other.")
    now = utcnow()
    db.rollback()
    for item_id, expires in ((expired, now - timedelta(seconds=1)),
                             (live, now + timedelta(seconds=600))):
        item = db.get(Item, item_id)
        item.status, item.claimed_by = "in_review", reviewer.id
        item.lease_token, item.lease_expires_at = f"tok-{item_id[-4:]}", expires
        item.version = 2
    db.commit()

    assert tick_at(app, now).leases_released == [expired]
    assert tick_at(app, now).leases_released == []
    item = load(db, expired)
    assert (item.status, item.claimed_by, item.lease_token, item.lease_expires_at) == \
        ("pending", None, None, None)
    assert item.version == 3  # the old holder's decision must now conflict
    [event] = db.scalars(select(ItemEvent).where(ItemEvent.item_id == expired,
                                                 ItemEvent.kind == "lease_expired"))
    assert event.data == {"claimed_by": reviewer.id}
    assert load(db, live).status == "in_review"


def test_concurrent_ticks_alert_once(app, client, auth, db):
    ids = [submit(client, auth, output=f"Answer {i}.") for i in range(5)]
    now = load(db, ids[-1]).created_at + timedelta(seconds=85)
    barrier = threading.Barrier(3)
    reports = []

    def run() -> None:
        barrier.wait()
        reports.append(tick_at(app, now))

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(i for r in reports for i in r.at_risk) == sorted(ids)
    db.rollback()
    assert len(db.scalars(select(Alert)).all()) == 5
    assert len(db.scalars(select(ItemEvent).where(ItemEvent.kind == "sla_at_risk")).all()) == 5


def test_periodic_jobs_are_enqueued_once_per_slot(app, rq_worker):
    from review.core.jobs import get_redis
    from review.ops.schedule import PERIODIC_JOBS, enqueue_due

    names = sorted(job.name for job in PERIODIC_JOBS)
    assert {"sla", "sweep"} <= set(names)
    with app.app_context():
        connection = get_redis()
        now = time.time()
        first = enqueue_due(app, connection, now)
        assert sorted(j.rsplit("-", 2)[1] for j in first) == names
        assert enqueue_due(app, connection, now) == []  # a second worker, same slot
        later = now + max(job.interval(app) for job in PERIODIC_JOBS)
        assert len(enqueue_due(app, connection, later)) == len(names)
    rq_worker()
    from rq.job import Job

    with app.app_context():
        for job_id in first:
            job = Job.fetch(job_id, connection=get_redis())
            assert job.get_status() == "finished"


def test_running_workers_tick_the_clock_on_their_own(app, client, auth, db, worker_process):
    """Two `review worker` processes, no cron, nobody calling tick: the item is marked
    breached, once."""
    item_id = submit(client, auth)
    item = load(db, item_id)
    item.due_at = utcnow() - timedelta(seconds=1)
    db.commit()
    workers = [worker_process(SLA_TICK_INTERVAL=1, SWEEP_INTERVAL=1) for _ in range(2)]
    deadline = time.monotonic() + 90
    while load(db, item_id).sla_state != "breached" and time.monotonic() < deadline:
        assert all(w.poll() is None for w in workers)
        time.sleep(0.2)
    assert load(db, item_id).sla_state == "breached"
    time.sleep(2.5)  # a few more slots go by on both workers
    assert kinds(db, Alert) == ["sla_breached"]
    assert kinds(db, ItemEvent, item_id=item_id).count("sla_breached") == 1


def add_open_items(db, queue, count: int, created, prefix: str) -> list[str]:
    from sqlalchemy import insert

    rows = [dict(id=f"{prefix}{i:08d}", queue_id=queue.id, submitter="up", body_hash="0",
                 status="pending", route_path="human", route_reasons=[], confidence=0.2,
                 output="x", context=[], meta={}, created_at=created,
                 due_at=created + timedelta(seconds=queue.sla_seconds))
            for i in range(count)]
    db.execute(insert(Item), rows)
    db.commit()
    return [r["id"] for r in rows]


def test_a_long_sla_queue_is_marked_at_risk_whatever_a_short_one_holds(app, db, make_queue):
    """More not-yet-at-risk items of a 5-minute queue than a tick reads must not keep a
    24-hour queue's item from being marked at risk (it used to jump straight to breached)."""
    from review.ops.sla_clock import BATCH

    fast = make_queue("fast", audit_rate=0.0, sla_seconds=300)
    slow = make_queue("slow", audit_rate=0.0, sla_seconds=86400)
    now = utcnow()
    waiting = add_open_items(db, fast, BATCH + 5, now - timedelta(seconds=10), "fa")
    [late] = add_open_items(db, slow, 1, now - timedelta(seconds=0.83 * 86400), "sl")

    report = tick_at(app, now)
    assert (report.at_risk, report.breached) == ([late], [])
    assert load(db, late).sla_state == "at_risk"
    assert kinds(db, Alert) == ["sla_at_risk"]
    # The short queue's items still come due at their own time, every one of them.
    # (at risk from created + 240 s = now + 230 s, due at now + 290 s)
    assert tick_at(app, now + timedelta(seconds=229)).at_risk == []
    first = tick_at(app, now + timedelta(seconds=231)).at_risk
    assert len(first) == BATCH
    rest = tick_at(app, now + timedelta(seconds=231)).at_risk
    assert sorted(first + rest) == waiting


def test_an_at_risk_alert_resolves_when_its_item_breaches(app, client, auth, db):
    from review.core.db import get_session
    from review.reports.dashboard import visible_alerts

    item_id = submit(client, auth)
    created = load(db, item_id).created_at
    tick_at(app, created + timedelta(seconds=81))
    tick_at(app, created + timedelta(seconds=101))
    db.rollback()
    episodes = {a.kind: a for a in db.scalars(select(Alert).where(Alert.item_id == item_id))}
    assert episodes["sla_at_risk"].resolved_at == created + timedelta(seconds=101)
    assert episodes["sla_breached"].resolved_at is None
    with app.app_context():
        queue_id = load(db, item_id).queue_id
        assert visible_alerts(get_session(), [queue_id])["item_alerts"] == {"sla_breached": 1}


def test_an_at_risk_alert_opened_by_a_racing_tick_after_the_breach_resolves(app, client, auth,
                                                                              db):
    """A tick that marked the item at risk may open its episode after another tick
    breached it: the next tick resolves it."""
    from review.core.db import get_session
    from review.ops.sla_clock import open_alert

    item_id = submit(client, auth)
    created = load(db, item_id).created_at
    tick_at(app, created + timedelta(seconds=150))
    with app.app_context():
        session = get_session()
        assert open_alert(session, session.get(Item, item_id), "sla_at_risk",
                          created + timedelta(seconds=150)) is not None
    report = tick_at(app, created + timedelta(seconds=180))
    assert report.alerts_resolved == 1
    db.rollback()
    open_kinds = [a.kind for a in db.scalars(select(Alert).where(Alert.resolved_at.is_(None)))]
    assert open_kinds == ["sla_breached"]
