"""Ingest: routing, validation, idempotency, batches, malformed bodies."""

from __future__ import annotations

import hashlib
import json
import threading

import pytest
from sqlalchemy import func, select

from review.core.models import Item, ItemEvent
from review.core.settings import settings


def submit(client, auth, **fields):
    body = {"queue": "support", "output": "Your order ships Monday.", "confidence": 0.5}
    body.update(fields)
    return client.post("/api/v1/items", json=body, headers=auth)


@pytest.fixture(autouse=True)
def support_queue(make_queue):
    return make_queue("support", audit_rate=0.0, checker={"type": "grounding"},
                      blocked_phrases=["fraudulent claim", "re:guarantee[ds]?"],
                      max_output_chars=200, sla_seconds=600)


def test_high_confidence_is_auto_approved(client, auth):
    resp = submit(client, auth, confidence=0.95)
    assert resp.status_code == 201
    item = resp.get_json()
    assert item["status"] == "approved"
    assert item["route"]["path"] == "auto"
    assert item["decision"]["outcome"] == "approve"
    assert item["decision"]["decided_by"] == "router"
    assert item["decision"]["output"] == "Your order ships Monday."
    assert item["sla"]["due_at"] is None


def test_ambiguous_goes_to_checking(client, auth):
    item = submit(client, auth, confidence=0.75).get_json()
    assert item["status"] == "checking"
    assert item["route"]["path"] == "check"
    assert item["decision"] is None


def test_low_confidence_goes_to_human_with_due_time(client, auth):
    item = submit(client, auth, confidence=0.2, priority=40).get_json()
    assert item["status"] == "pending"
    assert item["route"]["path"] == "human"
    assert item["priority"] == 40
    assert item["sla"]["due_at"] is not None and item["sla"]["breached"] is False
    assert "review_below" in item["route"]["reasons"][0]


@pytest.mark.parametrize("output, reason", [
    ("This is a fraudulent claim by the customer.", "blocked phrase"),
    ("Refunds are GUARANTEED today.", "blocked phrase"),
    ("x" * 300, "too long"),
])
def test_validation_failures_never_auto_approve(client, auth, output, reason):
    item = submit(client, auth, confidence=0.99, output=output).get_json()
    assert item["status"] == "pending"
    assert item["route"]["path"] == "human"
    assert any(reason in r for r in item["route"]["reasons"])
    assert item["priority"] > 50


def test_schema_failure_goes_to_human(client, auth, make_queue):
    make_queue("structured", audit_rate=0.0, output_schema={
        "type": "object", "required": ["answer"],
        "properties": {"answer": {"type": "string"}}})
    ok = submit(client, auth, queue="structured", confidence=0.99,
                output={"answer": "yes"}).get_json()
    bad = submit(client, auth, queue="structured", confidence=0.99,
                 output={"wrong": 1}).get_json()
    assert ok["status"] == "approved"
    assert bad["status"] == "pending"
    assert any("schema" in r for r in bad["route"]["reasons"])


def test_audit_sampling_is_deterministic_and_near_rate(client, auth, make_queue):
    make_queue("audited", audit_rate=0.3)
    items = [submit(client, auth, queue="audited", confidence=0.99).get_json()
             for _ in range(200)]
    sampled = [i for i in items if i["route"]["audit_sampled"]]
    assert all(i["status"] == "pending" for i in sampled)
    assert 30 <= len(sampled) <= 90
    from review.intake.routing import audit_sampled
    assert all(audit_sampled(i["id"], 0.3) == i["route"]["audit_sampled"] for i in items)


def test_all_fields_round_trip(client, auth):
    body = dict(confidence=0.3, external_id="ext-1", input={"q": "where is my order?"},
                context=["Orders ship Monday.", {"title": "FAQ", "text": "Shipping"}],
                model={"name": "gpt-x", "version": "2026-10"}, prompt_version="p7",
                priority=70, metadata={"lang": "en"},
                callback_url="http://127.0.0.1:9/hook")
    item = submit(client, auth, **body).get_json()
    for key, value in body.items():
        assert item[key] == value


def test_idempotent_replay_returns_same_item(client, auth, db):
    first = submit(client, auth, external_id="abc")
    again = submit(client, auth, external_id="abc")
    assert first.status_code == 201 and again.status_code == 200
    assert again.get_json()["id"] == first.get_json()["id"]
    conflict = submit(client, auth, external_id="abc", confidence=0.51)
    assert conflict.status_code == 409
    assert conflict.get_json()["error"]["code"] == "idempotency_conflict"
    assert db.scalar(select(func.count()).select_from(Item)) == 1


@pytest.mark.parametrize("field, default, other", [
    ("priority", 50, 51), ("input", None, "q"), ("context", [], ["c"]),
    ("model", {}, {"name": "m"}), ("metadata", {}, {"k": 1})])
def test_a_default_written_out_replays_as_left_out_and_vice_versa(client, auth, field,
                                                                  default, other):
    left_out = submit(client, auth, external_id="d1")
    written = submit(client, auth, external_id="d1", **{field: default})
    assert left_out.status_code == 201 and written.status_code == 200, written.get_json()
    assert written.get_json()["id"] == left_out.get_json()["id"]
    written = submit(client, auth, external_id="d2", **{field: default})
    left_out = submit(client, auth, external_id="d2")
    assert written.status_code == 201 and left_out.status_code == 200, left_out.get_json()
    assert written.get_json()["id"] == left_out.get_json()["id"]
    changed = submit(client, auth, external_id="d2", **{field: other})
    assert changed.status_code == 409
    assert changed.get_json()["error"]["code"] == "idempotency_conflict"
    items = [{"queue": "support", "output": "Your order ships Monday.", "confidence": 0.5,
              "external_id": key, **extra}
             for key, extra in (("d1", {}), ("d2", {field: default}), ("d3", {field: default}),
                                ("d3", {}))]
    results = client.post("/api/v1/items/batch", json={"items": items},
                          headers=auth).get_json()["results"]
    assert [r["result"] for r in results] == ["replayed", "replayed", "created", "replayed"]
    assert results[3]["id"] == results[2]["id"]


def test_an_item_stored_before_the_normal_form_still_replays(client, auth, db):
    """Items stored before replays compared the normal form hold the hash of the body as
    sent: one that wrote a default out still replays, sent identically or not."""
    sent = {"queue": "support", "output": "Your order ships Monday.", "confidence": 0.5,
            "external_id": "old", "priority": 50, "context": []}
    first = client.post("/api/v1/items", json=sent, headers=auth).get_json()
    canonical = json.dumps(sent, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    db.get(Item, first["id"]).body_hash = hashlib.sha256(canonical.encode()).hexdigest()
    db.commit()
    again = client.post("/api/v1/items", json=sent, headers=auth)
    assert again.status_code == 200 and again.get_json()["id"] == first["id"]
    bare = {k: v for k, v in sent.items() if k not in ("priority", "context")}
    assert submit(client, auth, external_id="old").get_json()["id"] == first["id"]
    assert client.post("/api/v1/items", json=bare, headers=auth).status_code == 200
    assert submit(client, auth, external_id="old", priority=60).status_code == 409


def test_same_external_id_for_another_owner_is_a_new_item(client, auth, make_key):
    other = {"Authorization": f"Bearer {make_key('other-service')}"}
    a = submit(client, auth, external_id="same").get_json()
    b = submit(client, other, external_id="same").get_json()
    assert a["id"] != b["id"]


def test_concurrent_identical_replays_create_one_item(app, auth, db):
    results: list[int] = []
    barrier = threading.Barrier(8)
    body = {"queue": "support", "output": "same", "confidence": 0.3, "external_id": "race"}

    def worker():
        client = app.test_client()
        barrier.wait()
        results.append(client.post("/api/v1/items", json=body, headers=auth).status_code)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200] * 7 + [201]
    assert db.scalar(select(func.count()).select_from(Item)) == 1
    # Losers stored nothing partial: one ingest event for the one item.
    assert db.scalar(select(func.count()).select_from(ItemEvent)
                     .where(ItemEvent.kind == "ingested")) == 1


@pytest.mark.parametrize("body, code", [
    ({"output": "x", "confidence": 0.5}, "validation_failed"),
    ({"queue": "support", "confidence": 0.5}, "validation_failed"),
    ({"queue": "support", "output": None, "confidence": 0.5}, "validation_failed"),
    ({"queue": "support", "output": "x", "confidence": 1.5}, "validation_failed"),
    ({"queue": "support", "output": "x", "confidence": "high"}, "validation_failed"),
    ({"queue": "support", "output": "x", "confidence": 0.5, "priority": 101}, "validation_failed"),
    ({"queue": "support", "output": "x", "confidence": 0.5, "surprise": 1}, "validation_failed"),
    ({"queue": "nope", "output": "x", "confidence": 0.5}, "unknown_queue"),
    ({"queue": "support", "output": "x", "confidence": 0.5,
      "callback_url": "http://10.0.0.1/hook"}, "unsafe_callback_url"),
    ({"queue": "support", "output": "x", "confidence": 0.5,
      "callback_url": "file:///etc/passwd"}, "unsafe_callback_url"),
])
def test_invalid_items_get_422_and_store_nothing(client, auth, db, body, code):
    resp = client.post("/api/v1/items", json=body, headers=auth)
    assert resp.status_code == 422
    assert resp.get_json()["error"]["code"] == code
    assert resp.get_json()["error"]["message"]
    assert db.scalar(select(func.count()).select_from(Item)) == 0


@pytest.mark.parametrize("data, content_type, status, code", [
    (b'{"queue": "support"', "application/json", 400, "invalid_json"),
    (b'{"queue":"support","output":"x","confidence":NaN}', "application/json", 400,
     "invalid_json"),
    (b'{"queue":"support","output":"x","confidence":Infinity}', "application/json", 400,
     "invalid_json"),
    (b'\xff\xfe{}', "application/json", 400, "invalid_utf8"),
    (b'[1, 2]', "application/json", 400, "not_an_object"),
    (b'queue=support', "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    (b'{}', "text/plain", 415, "unsupported_media_type"),
    (b'[' * 5000 + b']' * 5000, "application/json", 400, "too_deep"),
    (json.dumps({"queue": "support", "output": {"a": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]
     ]]]]]]]]]]]]]]]]]]]]]]]]]]]}, "confidence": 0.5}).encode(), "application/json", 400,
     "too_deep"),
])
def test_malformed_bodies_get_clear_errors(client, auth, db, data, content_type, status, code):
    resp = client.post("/api/v1/items", data=data, headers={**auth,
                                                            "Content-Type": content_type})
    assert resp.status_code == status
    assert resp.get_json()["error"]["code"] == code
    assert db.scalar(select(func.count()).select_from(Item)) == 0


def test_oversize_body_gets_413(client, auth, app):
    big = b'{"queue":"support","output":"' + b"x" * (settings(app).MAX_CONTENT_LENGTH + 10) + b'"}'
    resp = client.post("/api/v1/items", data=big,
                       headers={**auth, "Content-Type": "application/json"})
    assert resp.status_code == 413
    assert resp.get_json()["error"]["code"] == "payload_too_large"


def test_auth_errors(client, make_key, db):
    body = {"queue": "support", "output": "x", "confidence": 0.5}
    assert client.post("/api/v1/items", json=body).status_code == 401
    bad = client.post("/api/v1/items", json=body, headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401 and bad.get_json()["error"]["code"] == "invalid_key"
    from review.core.accounts import create_user
    from review.core.models import ApiKey, User
    user = create_user(db, "rita", "long password", "reviewer")
    db.commit()
    review_key = make_key("rita-key", "review", user)
    wrong = client.post("/api/v1/items", json=body,
                        headers={"Authorization": f"Bearer {review_key}"})
    assert wrong.status_code == 403 and wrong.get_json()["error"]["code"] == "wrong_scope"
    raw = make_key("revoked", "submit")
    key = db.scalar(select(ApiKey).where(ApiKey.name == "revoked"))
    from review.core.clock import utcnow
    key.revoked_at = utcnow()
    db.commit()
    revoked = client.post("/api/v1/items", json=body, headers={"Authorization": f"Bearer {raw}"})
    assert revoked.status_code == 401 and revoked.get_json()["error"]["code"] == "key_revoked"
    assert raw not in {k.key_hash for k in db.scalars(select(ApiKey))}
    assert db.scalar(select(func.count()).select_from(User)) == 1


def test_events_recorded_for_ingest_and_route(client, auth):
    item = submit(client, auth, confidence=0.95).get_json()
    events = client.get(f"/api/v1/items/{item['id']}/events", headers=auth).get_json()["events"]
    assert [e["kind"] for e in events] == ["ingested", "routed", "decided"]
    assert events[2]["actor"] == "router"


class TestBatch:
    def test_batch_stores_valid_items_and_reports_each(self, client, auth, db):
        items = [
            {"queue": "support", "output": "a", "confidence": 0.95},
            {"queue": "support", "output": "b", "confidence": 7},
            {"queue": "support", "output": "c", "confidence": 0.3, "external_id": "e1"},
            {"queue": "nope", "output": "d", "confidence": 0.3},
            {"queue": "support", "output": "c", "confidence": 0.3, "external_id": "e1"},
            "not an object",
        ]
        resp = client.post("/api/v1/items/batch", json={"items": items}, headers=auth)
        assert resp.status_code == 200
        body = resp.get_json()
        assert [r["result"] for r in body["results"]] == [
            "created", "error", "created", "error", "replayed", "error"]
        assert [r["index"] for r in body["results"]] == list(range(6))
        assert body["results"][1]["error"]["code"] == "validation_failed"
        assert body["results"][3]["error"]["code"] == "unknown_queue"
        assert body["results"][4]["id"] == body["results"][2]["id"]
        assert body["summary"] == {"created": 2, "replayed": 1, "error": 3}
        assert db.scalar(select(func.count()).select_from(Item)) == 2

    def test_batch_replay_and_conflict_against_stored_items(self, client, auth):
        submit(client, auth, external_id="k1", output="one")
        items = [{"queue": "support", "output": "one", "confidence": 0.5, "external_id": "k1"},
                 {"queue": "support", "output": "two", "confidence": 0.5, "external_id": "k1"}]
        results = client.post("/api/v1/items/batch", json={"items": items},
                              headers=auth).get_json()["results"]
        assert results[0]["result"] == "replayed"
        assert results[1]["result"] == "error" and results[1]["status_code"] == 409

    def test_batch_limits(self, client, auth):
        too_many = {"items": [{"queue": "support", "output": "x", "confidence": 0.5}] * 501}
        resp = client.post("/api/v1/items/batch", json=too_many, headers=auth)
        assert resp.status_code == 422
        assert client.post("/api/v1/items/batch", json={"items": []},
                           headers=auth).status_code == 422

    def test_full_batch_of_500(self, client, auth, db):
        items = [{"queue": "support", "output": f"o{i}", "confidence": (i % 100) / 100,
                  "external_id": f"x{i}"} for i in range(500)]
        body = client.post("/api/v1/items/batch", json={"items": items}, headers=auth).get_json()
        assert body["summary"]["created"] == 500
        assert db.scalar(select(func.count()).select_from(Item)) == 500


def test_shadow_stage_sends_to_humans_and_says_what_it_would_have_done(client, auth, db,
                                                                        make_queue):
    from review.adaptive.rollout import set_stage
    from review.core.models import Queue

    queue = make_queue("shadowed", audit_rate=0.0)
    set_stage(db, db.get(Queue, queue.id), "shadow", "boss")
    db.commit()
    item = submit(client, auth, queue="shadowed", confidence=0.99).get_json()
    assert item["status"] == "pending"
    assert item["route"]["shadow_route"] == "auto"
    assert item["route"]["reasons"][0].startswith("shadow mode")
    assert item["sla"]["due_at"] is not None
