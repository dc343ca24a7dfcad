"""Poll by id and the decisions feed."""

from __future__ import annotations

import time

import pytest

from review.core.settings import settings


@pytest.fixture(autouse=True)
def support_queue(make_queue):
    make_queue("support", audit_rate=0.0)
    make_queue("billing", audit_rate=0.0)


def post(client, auth, queue="support", confidence=0.95, **extra):
    body = {"queue": queue, "output": "ok", "confidence": confidence, **extra}
    return client.post("/api/v1/items", json=body, headers=auth).get_json()


def test_poll_returns_status_and_decision(client, auth):
    item = post(client, auth)
    got = client.get(f"/api/v1/items/{item['id']}", headers=auth).get_json()
    assert got["status"] == "approved"
    assert set(got["decision"]) >= {"outcome", "output", "reason", "decided_by", "decided_at"}
    assert got["sla"] == {"due_at": None, "state": "ok", "breached": False}


def test_poll_history(client, auth):
    item = post(client, auth, confidence=0.2)
    got = client.get(f"/api/v1/items/{item['id']}?history=1", headers=auth).get_json()
    assert [e["kind"] for e in got["history"]] == ["ingested", "routed"]


def test_other_owners_items_are_invisible_admin_sees_all(client, auth, make_key):
    item = post(client, auth)
    other = {"Authorization": f"Bearer {make_key('someone-else')}"}
    resp = client.get(f"/api/v1/items/{item['id']}", headers=other)
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "not_found"
    admin = {"Authorization": f"Bearer {make_key('ops', 'admin')}"}
    assert client.get(f"/api/v1/items/{item['id']}", headers=admin).status_code == 200
    assert client.get("/api/v1/items/does-not-exist", headers=auth).status_code == 404


def test_decisions_feed_keyset_pagination(client, auth, make_key):
    ids = [post(client, auth)["id"] for _ in range(7)]
    post(client, auth, confidence=0.1)  # pending: not in the feed
    post(client, auth, queue="billing")
    seen, cursor = [], None
    for _ in range(10):
        params = {"queue": "support", "limit": 3}
        if cursor:
            params["after"] = cursor
        page = client.get("/api/v1/decisions", query_string=params, headers=auth).get_json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next"]
        if not page["items"]:
            break
    assert seen == ids
    # A later decision appears after the last cursor.
    late = post(client, auth)["id"]
    page = client.get("/api/v1/decisions", query_string={"queue": "support", "after": cursor},
                      headers=auth).get_json()
    assert [i["id"] for i in page["items"]] == [late]
    other = {"Authorization": f"Bearer {make_key('x')}"}
    assert client.get("/api/v1/decisions", headers=other).get_json()["items"] == []


@pytest.mark.parametrize("query, status, code", [
    ({"after": "!!garbage"}, 400, "bad_cursor"),
    ({"limit": "abc"}, 400, "bad_limit"),
    ({"limit": 0}, 400, "bad_limit"),
    ({"queue": "ghost"}, 404, "queue_not_found"),
])
def test_decisions_feed_bad_input(client, auth, query, status, code):
    resp = client.get("/api/v1/decisions", query_string=query, headers=auth)
    assert resp.status_code == status
    assert resp.get_json()["error"]["code"] == code


def test_unknown_route_and_method_are_json(client, auth):
    resp = client.get("/api/v1/nothing-here", headers=auth)
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "not_found"
    resp = client.delete("/api/v1/items", headers=auth)
    assert resp.status_code == 405 and resp.get_json()["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize("settle", [0.0, 2.0])
def test_a_decision_committed_late_is_not_skipped(app, client, auth, db, monkeypatch, settle):
    """B is stamped before A but commits after a page was read (a slow transaction).
    Without the settle window that page returns A and its cursor passes B for good."""
    from datetime import timedelta

    from sqlalchemy import insert

    from review.core.clock import utcnow
    from review.core.models import Item, Queue

    monkeypatch.setattr(settings(app), "FEED_SETTLE_SECONDS", settle)
    a = post(client, auth)["id"]
    page = client.get("/api/v1/decisions", headers=auth).get_json()
    queue = db.query(Queue).filter_by(slug="support").one()
    stamp = utcnow() - timedelta(milliseconds=500)
    db.execute(insert(Item), [dict(
        id="late-b", queue_id=queue.id, submitter="upstream", body_hash="0",
        status="approved", route_path="auto", route_reasons=[], confidence=0.99,
        output="ok", context=[], meta={}, created_at=stamp, decided_at=stamp,
        decided_by="router", decided_by_kind="router", decision_outcome="approve")])
    db.commit()
    if settle:
        assert page["items"] == []  # A is too fresh to list yet
        time.sleep(settle + 0.1)
    seen = [i["id"] for i in page["items"]]
    seen += [i["id"] for i in client.get(
        "/api/v1/decisions", query_string={"after": page["next"]} if page["next"] else {},
        headers=auth).get_json()["items"]]
    if settle:
        assert seen == ["late-b", a]
    else:
        assert seen == [a]  # the bug the settle window prevents: B is never listed
