"""GET /api/v1/queues/<slug>, the rollout stage and the breaker reset over the API,
against state made by a real learning pass over inserted human decisions."""

from __future__ import annotations

import pytest

from tests.adaptive_data import learn, policy_changes, queue_named, seed_decisions, trip_breaker


def bearer(raw: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw}"}


@pytest.fixture
def adaptive(make_queue, make_key):
    make_queue("support", max_error_rate=0.02, audit_rate=0.05)
    return bearer(make_key("ops", "admin"))


def test_state_shows_learned_threshold_evidence_and_bound(client, app, adaptive):
    # 200 approvals at 0.99: enough for a 2% target (zero errors needs n >= 149).
    seed_decisions(app, "support", 200, model_version="v1", prompt_version="p1")
    seed_decisions(app, "support", 5, model_version="v2", prompt_version="p1")
    learn(app, "support")
    resp = client.get("/api/v1/queues/support", headers=adaptive)
    assert resp.status_code == 200
    state = resp.get_json()
    assert (state["slug"], state["max_error_rate"], state["auto_approve_at"]) == \
        ("support", 0.02, 0.9)
    adaptive_state = state["adaptive"]
    assert adaptive_state["rollout_stage"] == "shadow"
    assert adaptive_state["breaker"]["open"] is False
    assert adaptive_state["learned_at"] is not None
    versions = {(v["model_version"], v["prompt_version"]): v for v in adaptive_state["versions"]}
    learned, fresh = versions[("v1", "p1")], versions[("v2", "p1")]
    assert learned["threshold"] is not None and 0.5 <= learned["threshold"] <= 0.99
    assert (learned["evidence_count"], learned["errors"]) == (200, 0)
    assert 0 < learned["upper_bound"] <= 0.02
    assert fresh["threshold"] is None and fresh["evidence_count"] == 5
    assert fresh["upper_bound"] is None and fresh["reason"].startswith("fewer than")


def test_fixed_queue_has_no_adaptive_target(client, make_queue, make_key):
    make_queue("plain", auto_approve_at=0.8)
    state = client.get("/api/v1/queues/plain",
                       headers=bearer(make_key("ops", "admin"))).get_json()
    assert state["auto_approve_at"] == 0.8 and state["max_error_rate"] is None
    assert state["adaptive"]["versions"] == []


def test_set_stage_and_unknown_stage(client, app, adaptive):
    resp = client.post("/api/v1/queues/support/rollout", headers=adaptive,
                       json={"stage": "25%", "note": "evidence looks fine"})
    assert resp.status_code == 200
    assert resp.get_json()["adaptive"]["rollout_stage"] == "25%"
    assert queue_named(app, "support").rollout_stage == "25%"
    last = policy_changes(app, "support")[-1]
    assert last.changed_by == "api:ops"
    assert last.changes == {"rollout_stage": ["shadow", "25%"], "reason": "evidence looks fine"}

    resp = client.post("/api/v1/queues/support/rollout", headers=adaptive, json={"stage": "33%"})
    assert resp.status_code == 422
    error = resp.get_json()["error"]
    assert error["code"] == "unknown_stage" and "shadow, 5%, 10%, 25%, 50%, 100%" in \
        error["message"]
    assert queue_named(app, "support").rollout_stage == "25%"


@pytest.mark.parametrize("body, status", [
    ({}, 422), ({"stage": 25}, 422), ({"stage": None}, 422), ({"stage": "5%", "x": 1}, 422),
    ({"stage": "5%", "note": ["a"]}, 422), ([], 400), ("shadow", 400)])
def test_rollout_refuses_bad_bodies_with_json_errors(client, adaptive, body, status):
    resp = client.post("/api/v1/queues/support/rollout", headers=adaptive, json=body)
    assert resp.status_code == status
    assert set(resp.get_json()["error"]) >= {"code", "message"}


def test_rollout_refuses_non_json(client, adaptive):
    for data, ctype, status in (("stage=5%", "application/x-www-form-urlencoded", 415),
                                ("{not json", "application/json", 400),
                                (b"\xff\xfe", "application/json", 400)):
        resp = client.post("/api/v1/queues/support/rollout", headers=adaptive, data=data,
                           content_type=ctype)
        assert resp.status_code == status, data
        assert resp.get_json()["error"]["code"]


def test_breaker_reset_and_409_when_closed(client, app, adaptive):
    resp = client.post("/api/v1/queues/support/breaker/reset", headers=adaptive,
                       json={"note": "nothing to reset"})
    assert resp.status_code == 409
    assert resp.get_json()["error"]["code"] == "breaker_not_open"

    trip_breaker(app, "support")
    state = client.get("/api/v1/queues/support", headers=adaptive).get_json()
    assert state["adaptive"]["breaker"]["open"] is True
    assert state["adaptive"]["breaker"]["reason"].startswith("tripped")
    resp = client.post("/api/v1/queues/support/breaker/reset", headers=adaptive,
                       json={"note": "provider rolled back"})
    assert resp.status_code == 200
    breaker = resp.get_json()["adaptive"]["breaker"]
    assert breaker["open"] is False and breaker["reason"] == "reset by api:ops: " \
        "provider rolled back"
    assert queue_named(app, "support").breaker_open is False
    last = policy_changes(app, "support")[-1]
    assert (last.changed_by, last.changes["breaker_open"]) == ("api:ops", [True, False])
    # No body at all is a reset without a note; now closed, it conflicts again.
    assert client.post("/api/v1/queues/support/breaker/reset",
                       headers=adaptive).status_code == 409


def test_authorisation(client, make_queue, make_key, make_user, adaptive):
    make_queue("other", max_error_rate=0.05)
    rita = make_user("rita", "reviewer", queues=("support",))
    sue = make_user("sue", "supervisor", queues=("support",))
    submit = bearer(make_key("upstream", "submit"))
    rita_key = bearer(make_key("rita-key", "review", rita))
    sue_key = bearer(make_key("sue-key", "review", sue))
    stage = {"stage": "5%"}
    routes = (("get", "/api/v1/queues/support", None),
              ("post", "/api/v1/queues/support/rollout", stage),
              ("post", "/api/v1/queues/support/breaker/reset", {}))
    for method, url, body in routes:
        anonymous = client.open(url, method=method, json=body)
        assert anonymous.status_code == 401, url
        assert anonymous.get_json()["error"]["code"] == "unauthorized"
        wrong = client.open(url, method=method, json=body, headers=submit)
        assert (wrong.status_code, wrong.get_json()["error"]["code"]) == (403, "wrong_scope")
        unknown = client.open(url.replace("support", "nope"), method=method, json=body,
                              headers=adaptive)
        assert (unknown.status_code, unknown.get_json()["error"]["code"]) == \
            (404, "queue_not_found")
    # A member reads; only a supervisor of the queue changes it.
    assert client.get("/api/v1/queues/support", headers=rita_key).status_code == 200
    resp = client.post("/api/v1/queues/support/rollout", json=stage, headers=rita_key)
    assert (resp.status_code, resp.get_json()["error"]["code"]) == (403, "not_a_supervisor")
    resp = client.post("/api/v1/queues/support/rollout", json=stage, headers=sue_key)
    assert resp.status_code == 200 and resp.get_json()["adaptive"]["rollout_stage"] == "5%"
    # Neither sees a queue they are not in.
    for key in (rita_key, sue_key):
        resp = client.get("/api/v1/queues/other", headers=key)
        assert (resp.status_code, resp.get_json()["error"]["code"]) == (403, "not_a_member")
        assert client.post("/api/v1/queues/other/rollout", json=stage,
                           headers=key).status_code == 403


def test_routes_are_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert set(paths["/api/v1/queues/{slug}"]) == {"get"}
    rollout = paths["/api/v1/queues/{slug}/rollout"]["post"]
    assert "422" in rollout["responses"]
    assert "409" in paths["/api/v1/queues/{slug}/breaker/reset"]["post"]["responses"]
