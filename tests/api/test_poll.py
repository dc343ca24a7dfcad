"""Poll by id and the decisions feed."""

from __future__ import annotations

import pytest

from tests.core.feedkit import raw_cursor


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


def test_a_decision_committed_late_is_not_skipped(app, client, auth, db):
    """B is stamped before A but commits after a page listing A was read (a slow
    transaction). The feed orders by commit, so B comes after A's cursor, not behind it.
    (Paging on decided_at listed A, and its cursor passed B for good.)"""
    from datetime import timedelta

    from sqlalchemy import insert

    from review.core.clock import utcnow
    from review.core.models import Item, Queue

    a = post(client, auth)["id"]
    page = client.get("/api/v1/decisions", headers=auth).get_json()
    assert [i["id"] for i in page["items"]] == [a]
    queue = db.query(Queue).filter_by(slug="support").one()
    stamp = utcnow() - timedelta(seconds=30)
    db.execute(insert(Item), [dict(
        id="late-b", queue_id=queue.id, submitter="upstream", body_hash="0",
        status="approved", route_path="auto", route_reasons=[], confidence=0.99,
        output="ok", context=[], meta={}, created_at=stamp, decided_at=stamp,
        decided_by="router", decided_by_kind="router", decision_outcome="approve")])
    db.commit()
    later = client.get("/api/v1/decisions", query_string={"after": page["next"]},
                       headers=auth).get_json()
    assert [i["id"] for i in later["items"]] == ["late-b"]


@pytest.mark.parametrize("raw", [
    "f1|12|abc\x00def",  # a NUL in the id: PostgreSQL refuses it in a bound string
    "2026-01-01T00:00:00|abc\x00def", "2026-01-01T00:00:00\x00|abc",
    "f1|\x00|abc", "\x00", "f1|1|", "f1|x|abc", "f1|1.5|abc", "f1|99999999999999999999|abc",
    "f1|-9223372036854775809|abc", "f1|9223372036854775808|abc", "f1|1|" + "a" * 33,
    "f1|1|ab\ncd", "f9|1|abc", "f1|1", "f1|1|a|b|c", "2026-13-45T00:00:00|abc",
    "not a date|abc", "\u00e9t\u00e9|x", "",
])
def test_decisions_feed_refuses_malformed_cursors(client, auth, raw):
    resp = client.get("/api/v1/decisions", query_string={"after": raw_cursor(raw) or "="},
                      headers=auth)
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert resp.get_json()["error"]["code"] == "bad_cursor"


@pytest.mark.parametrize("cursor", ["\u00e9\u00e9\u00e9\u00e9", "a" * 5000, "====", "A", "AAAAA"])
def test_decisions_feed_refuses_cursors_that_are_not_base64(client, auth, cursor):
    resp = client.get("/api/v1/decisions", query_string={"after": cursor}, headers=auth)
    assert resp.status_code == 400
    assert resp.get_json()["error"]["code"] == "bad_cursor"


def test_a_cursor_from_before_positions_continues_after_its_item(client, auth, db,
                                                                  make_key):
    """Cursors of the old form ("decided_at|id") still work: they continue after the
    item they name. One naming no decision of the caller's is a clear 400."""
    from review.core.models import Item

    ids = [post(client, auth)["id"] for _ in range(3)]
    second = db.get(Item, ids[1])
    stamp = second.decided_at.isoformat()
    old = raw_cursor(f"{stamp}|{ids[1]}")
    page = client.get("/api/v1/decisions", query_string={"after": old}, headers=auth).get_json()
    assert [i["id"] for i in page["items"]] == ids[2:]
    stranger = {"Authorization": f"Bearer {make_key('someone-else')}"}
    for headers, item_id in ((auth, "nothing-here"), (stranger, ids[1])):
        resp = client.get("/api/v1/decisions", query_string={"after": raw_cursor(
            f"{stamp}|{item_id}")}, headers=headers)
        assert resp.status_code == 400
        assert resp.get_json()["error"]["code"] == "bad_cursor"
        assert "older release" in resp.get_json()["error"]["message"]
