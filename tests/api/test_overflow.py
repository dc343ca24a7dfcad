"""Overload at ingest (issue 18): the backlog state in every answer and the overflow
policies (accept, reject, fallback), single and batch."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from review.core.models import Alert, Item, ItemEvent, OverflowShed
from review.intake.overflow import forget_alert_attempts


@pytest.fixture(autouse=True)
def _fresh_alert_memo():
    forget_alert_attempts()
    yield
    forget_alert_attempts()


def submit(client, auth, queue="surge", **fields):
    body = {"queue": queue, "output": "Refunds take 5 days.", "confidence": 0.2}
    body.update(fields)
    return client.post("/api/v1/items", json=body, headers=auth)


def batch(client, auth, n, queue="surge", start=0, **fields):
    items = [{"queue": queue, "output": f"answer {i}", "confidence": 0.2,
              "external_id": f"e{i}", **fields} for i in range(start, start + n)]
    return client.post("/api/v1/items/batch", json={"items": items}, headers=auth)


def count(db, *where):
    db.rollback()
    return db.scalar(select(func.count()).select_from(Item).where(*where))


def test_every_answer_carries_the_backlog(client, auth, make_queue):
    make_queue("surge", audit_rate=0.0, backlog_cap=10, sla_seconds=600)
    resp = submit(client, auth)
    assert resp.status_code == 201
    backlog = resp.get_json()["backlog"]
    assert backlog["pending"] == 1 and backlog["over_cap"] is False
    assert backlog["wait_seconds"] is None  # nothing decided yet: no pace known
    assert resp.headers["Review-Backlog"] == "queue=surge, pending=1, wait=unknown, over_cap=false"
    auto = submit(client, auth, confidence=0.99)  # the router's own: measured after
    assert auto.get_json()["backlog"]["pending"] == 1
    replay = submit(client, auth, external_id="x")
    again = submit(client, auth, external_id="x")
    assert again.status_code == 200 and again.get_json()["backlog"]["pending"] == 2
    assert replay.headers["Review-Backlog"].startswith("queue=surge, pending=2")
    resp = batch(client, auth, 3)
    assert resp.get_json()["backlog"]["surge"]["pending"] == 5
    assert "pending=5" in resp.headers["Review-Backlog"]


def test_reject_answers_429_and_stores_nothing(client, auth, make_queue, db):
    make_queue("surge", audit_rate=0.0, backlog_cap=3, overflow="reject", max_output_chars=50)
    assert [submit(client, auth).status_code for _ in range(3)] == [201] * 3
    resp = submit(client, auth, external_id="late")
    assert resp.status_code == 429
    error = resp.get_json()["error"]
    assert error["code"] == "queue_overloaded"
    assert error["details"]["pending"] == 3 and error["details"]["over_cap"] is True
    assert int(resp.headers["Retry-After"]) >= 1
    assert "over_cap=true" in resp.headers["Review-Backlog"]
    assert count(db) == 3
    shed = db.scalars(select(OverflowShed)).all()
    assert [(s.items, s.external_ids) for s in shed] == [(1, ["late"])]
    # Never shed: the router's own decisions, validation failures, high priority.
    assert submit(client, auth, confidence=0.99).status_code == 201
    assert submit(client, auth, output="x" * 60, priority=10).status_code == 201
    assert submit(client, auth, priority=95).status_code == 201
    alert = db.scalars(select(Alert).where(Alert.kind == "overflow")).one()
    assert alert.episode_key == "overflow:surge" and alert.resolved_at is None


def test_reject_in_a_batch_fills_to_the_cap(client, auth, make_queue, db):
    make_queue("surge", audit_rate=0.0, backlog_cap=5, overflow="reject")
    resp = batch(client, auth, 8)
    body = resp.get_json()
    assert resp.status_code == 200
    assert body["summary"] == {"created": 5, "replayed": 0, "error": 3}
    refused = [r for r in body["results"] if r["result"] == "error"]
    assert {r["status_code"] for r in refused} == {429}
    assert {r["error"]["code"] for r in refused} == {"queue_overloaded"}
    assert int(resp.headers["Retry-After"]) >= 1
    assert body["backlog"]["surge"]["pending"] == 5
    assert count(db) == 5
    shed = db.scalars(select(OverflowShed)).one()
    assert shed.items == 3 and shed.external_ids == ["e5", "e6", "e7"]


def test_fallback_decides_at_once_with_the_safe_outcome(client, auth, make_queue, db):
    make_queue("surge", audit_rate=0.0, backlog_cap=2, overflow="fallback",
               fallback_outcome="reject", fallback_reason="overflow",
               fallback_audit_rate=0.5)
    resp = batch(client, auth, 40)
    body = resp.get_json()
    assert body["summary"]["created"] == 40
    statuses = [r["status"] for r in body["results"]]
    assert statuses[:2] == ["pending", "pending"] and set(statuses[2:]) == {"rejected"}
    assert all(r.get("overflow") == "fallback" for r in body["results"][2:])
    one = submit(client, auth).get_json()
    assert one["status"] == "rejected"
    assert one["decision"]["reason"] == "overflow"
    assert one["decision"]["decided_by"] == "overflow"
    assert one["route"]["reasons"][0].startswith("overflow fallback reject: backlog 2 at its cap")
    assert count(db, Item.status == "pending") == 2
    assert count(db, Item.decided_by == "overflow") == 39
    sampled = count(db, Item.decided_by == "overflow", Item.audit_sampled.is_(True))
    assert 5 < sampled < 35  # about half, deterministic by id
    events = db.scalar(select(func.count()).select_from(ItemEvent)
                       .where(ItemEvent.kind == "overflow"))
    assert events == 39


def test_accept_only_alerts(client, auth, make_queue, db):
    make_queue("surge", audit_rate=0.0, backlog_cap=2, overflow="accept",
               overflow_reviewers=["dana"])
    body = batch(client, auth, 5).get_json()
    assert body["summary"]["created"] == 5
    assert body["backlog"]["surge"]["over_cap"] is True
    assert count(db, Item.status == "pending") == 5
    alert = db.scalars(select(Alert).where(Alert.kind == "overflow")).one()
    assert "brought in: dana" in alert.message
    assert alert.data["brought_in"] == ["dana"]


def test_wait_over_the_sla_sheds_too(client, auth, make_queue, db):
    from datetime import timedelta

    from review.core.clock import utcnow

    queue = make_queue("surge", audit_rate=0.0, sla_seconds=550, overflow="reject")
    # Six decisions in the last ten minutes: 36 an hour, so 6 waiting take 600 s > 550.
    now = utcnow()
    for i in range(6):
        db.add(Item(id=f"done{i}", queue_id=queue.id, submitter="x", body_hash="h",
                    status="approved", route_path="human", confidence=0.1,
                    decided_by_kind="reviewer", decided_by="r",
                    created_at=now - timedelta(minutes=20),
                    decided_at=now - timedelta(minutes=10 - i)))
    db.commit()
    codes = [submit(client, auth).status_code for _ in range(8)]
    assert codes == [201] * 6 + [429] * 2


def test_the_client_exposes_the_backlog(live_server, submit_key, make_queue):
    from review.client import ReviewClient

    make_queue("surge", audit_rate=0.0, backlog_cap=2, overflow="fallback")
    client = ReviewClient(live_server.url, submit_key)
    first = client.submit("surge", "a", 0.1)
    assert first.backlog is not None
    assert (first.backlog.pending, first.backlog.over_cap) == (1, False)
    result = client.submit_batch([{"queue": "surge", "output": "b", "confidence": 0.1}] * 3)
    assert result.backlog["surge"].over_cap is True
    assert [e.status for e in result.entries] == ["pending", "rejected", "rejected"]
    assert client.get(first.id).backlog is None


def test_the_overflow_report_counts_what_was_shed(client, auth, make_queue, make_key, db):
    make_queue("surge", audit_rate=0.0, backlog_cap=1, overflow="fallback",
               fallback_audit_rate=1.0)
    make_queue("door", audit_rate=0.0, backlog_cap=1, overflow="reject")
    batch(client, auth, 4)
    batch(client, auth, 5, queue="door")
    admin = {"Authorization": f"Bearer {make_key('boss', 'admin')}"}
    body = client.get("/api/v1/reports/overflow", headers=admin).get_json()
    today = [r for r in body["days"]]
    assert {(r["queue"], r["refused"], r["fallback"]) for r in today} == {
        ("surge", 0, 3), ("door", 4, 0)}
    sampled = set(db.scalars(select(Item.id).where(Item.decided_by == "overflow")))
    assert set(body["audit_samples"]["surge"]) == sampled and body["audit_samples"]["door"] == []
    one = client.get("/api/v1/reports/overflow?queue=door", headers=admin).get_json()
    assert [r["queue"] for r in one["days"]] == ["door"]


def test_usage_is_validated_stored_and_answered(client, auth, make_queue):
    make_queue("surge", audit_rate=0.0)
    usage = {"input_tokens": 812, "output_tokens": 64, "cost": 0.0031}
    body = submit(client, auth, usage=usage).get_json()
    assert body["usage"] == usage
    assert client.get(f"/api/v1/items/{body['id']}", headers=auth).get_json()["usage"] == usage
    assert submit(client, auth).get_json()["usage"] is None
    for bad in ({"input_tokens": -1}, {"cost": "1"}, {"tokens": 3}, {"output_tokens": 1.5},
                {"input_tokens": 10**13}, []):
        resp = submit(client, auth, usage=bad)
        assert resp.status_code == 422, bad
        assert resp.get_json()["error"]["code"] == "validation_failed"
