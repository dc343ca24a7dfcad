"""Poll by id and the decisions feed."""

from __future__ import annotations

import pytest


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
