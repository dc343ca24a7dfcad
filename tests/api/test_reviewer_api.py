"""The reviewer API over HTTP: claim, decide, release, extend, escalate, and
membership enforced on every route."""

from __future__ import annotations

import pytest


@pytest.fixture
def setup(client, auth, make_queue, make_user, make_key):
    make_queue("support", reject_reasons=["incorrect", "other"])
    make_queue("legal")
    ana = make_user("ana", queues=("support",))
    olga = make_user("olga", queues=("legal",))
    keys = {"ana": make_key("ana-key", "review", ana), "olga": make_key("olga-key", "review", olga)}
    ids = []
    for n in range(3):
        response = client.post("/api/v1/items", headers=auth, json={
            "queue": "support", "output": {"answer": n}, "confidence": 0.1,
            "priority": 90 - n, "input": {"q": n}})
        assert response.status_code == 201
        ids.append(response.get_json()["id"])
    return {"ids": ids, "keys": keys}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def claim(client, key: str, slug: str = "support"):
    return client.post(f"/api/v1/queues/{slug}/claim", headers=bearer(key))


def test_claim_decide_flow(client, auth, setup):
    ana = setup["keys"]["ana"]
    response = claim(client, ana)
    assert response.status_code == 200
    body = response.get_json()
    item, lease = body["item"], body["lease"]
    assert item["id"] == setup["ids"][0] and item["status"] == "in_review"
    assert lease["token"] and lease["expires_at"].endswith("Z")
    again = claim(client, ana).get_json()  # the one they hold, not a second item
    assert again["item"]["id"] == item["id"] and again["renewed"] is True
    decided = client.post(f"/api/v1/items/{item['id']}/decision", headers=bearer(ana), json={
        "outcome": "approve", "note": "fine", "lease_token": lease["token"]})
    assert decided.status_code == 200, decided.get_json()
    assert decided.get_json()["result"] == {"final": True, "escalated": False, "reviews": 1,
                                            "required": 1}
    polled = client.get(f"/api/v1/items/{item['id']}", headers=auth).get_json()
    assert polled["status"] == "approved"
    assert polled["decision"]["decided_by"] == "ana"
    assert polled["decision"]["decided_by_kind"] == "reviewer"
    twice = client.post(f"/api/v1/items/{item['id']}/decision", headers=bearer(ana), json={
        "outcome": "reject", "reason": "other", "lease_token": lease["token"]})
    assert twice.status_code == 409
    assert twice.get_json()["error"]["code"] == "already_decided"
    assert client.get(f"/api/v1/items/{item['id']}", headers=auth).get_json()["status"] == \
        "approved"


def test_queue_empty_is_204(client, setup):
    ana = setup["keys"]["ana"]
    for _ in setup["ids"]:
        body = claim(client, ana).get_json()
        response = client.post(f"/api/v1/items/{body['item']['id']}/decision",
                               headers=bearer(ana),
                               json={"outcome": "reject", "reason": "incorrect",
                                     "lease_token": body["lease"]["token"]})
        assert response.get_json()["item"]["status"] == "rejected"
    empty = claim(client, ana)
    assert empty.status_code == 204 and empty.data == b""


def test_bad_decisions_are_refused_and_change_nothing(client, auth, setup):
    ana = setup["keys"]["ana"]
    body = claim(client, ana).get_json()
    item_id, token = body["item"]["id"], body["lease"]["token"]
    url = f"/api/v1/items/{item_id}/decision"
    cases = [({"outcome": "approve"}, 422),  # no lease token
             ({"outcome": "approve", "lease_token": "nope"}, 409),
             ({"outcome": "reject", "lease_token": token}, 422),
             ({"outcome": "reject", "reason": "made up", "lease_token": token}, 422),
             ({"outcome": "edit", "lease_token": token}, 422),
             ({"outcome": "maybe", "lease_token": token}, 422)]
    for payload, status in cases:
        response = client.post(url, headers=bearer(ana), json=payload)
        assert response.status_code == status, (payload, response.get_json())
        assert "error" in response.get_json()
    polled = client.get(f"/api/v1/items/{item_id}?history=1", headers=auth).get_json()
    assert polled["status"] == "in_review" and polled["decision"] is None
    assert [e["kind"] for e in polled["history"]] == ["ingested", "routed", "claimed"]
    edited = client.post(url, headers=bearer(ana), json={
        "outcome": "edit", "output": {"answer": "better"}, "lease_token": token})
    assert edited.status_code == 200
    assert edited.get_json()["item"]["decision"]["output"] == {"answer": "better"}


def test_release_extend_and_escalate(client, setup):
    ana = setup["keys"]["ana"]
    body = claim(client, ana).get_json()
    item_id, token = body["item"]["id"], body["lease"]["token"]
    extended = client.post(f"/api/v1/items/{item_id}/lease", headers=bearer(ana),
                           json={"lease_token": token})
    assert extended.status_code == 200
    assert extended.get_json()["lease"]["expires_at"] >= body["lease"]["expires_at"]
    released = client.post(f"/api/v1/items/{item_id}/release", headers=bearer(ana),
                           json={"lease_token": token})
    assert released.status_code == 200
    assert released.get_json()["item"]["status"] == "pending"
    for path in ("release", "lease"):
        gone = client.post(f"/api/v1/items/{item_id}/{path}", headers=bearer(ana),
                           json={"lease_token": token})
        assert gone.status_code == 409
    body = claim(client, ana).get_json()
    escalated = client.post(f"/api/v1/items/{body['item']['id']}/escalate", headers=bearer(ana),
                            json={"lease_token": body["lease"]["token"], "note": "unsure"})
    assert escalated.status_code == 200
    assert escalated.get_json()["item"]["status"] == "pending"
    next_one = claim(client, ana).get_json()
    assert next_one["item"]["id"] != body["item"]["id"]  # escalated: not for reviewers


def test_non_member_cannot_see_or_touch_items(client, setup):
    ana, olga = setup["keys"]["ana"], setup["keys"]["olga"]
    held = claim(client, ana).get_json()
    item_id, token = held["item"]["id"], held["lease"]["token"]
    assert claim(client, olga).status_code == 403
    assert claim(client, olga, "nope").status_code == 404
    assert client.get(f"/api/v1/items/{item_id}", headers=bearer(olga)).status_code == 404
    assert client.get(f"/api/v1/items/{item_id}", headers=bearer(ana)).status_code == 200
    for path, payload in (("decision", {"outcome": "approve", "lease_token": token}),
                          ("release", {"lease_token": token}),
                          ("lease", {"lease_token": token}),
                          ("escalate", {"lease_token": token})):
        response = client.post(f"/api/v1/items/{item_id}/{path}", headers=bearer(olga),
                               json=payload)
        assert response.status_code == 404, path
    other = setup["ids"][1]
    assert client.post(f"/api/v1/items/{other}/decision", headers=bearer(olga), json={
        "outcome": "approve", "lease_token": "x"}).status_code == 404
    still = client.get(f"/api/v1/items/{item_id}", headers=bearer(ana)).get_json()
    assert still["status"] == "in_review"


def test_keys_without_review_scope_or_user(client, auth, setup, make_key):
    assert client.post("/api/v1/queues/support/claim").status_code == 401
    assert client.post("/api/v1/queues/support/claim", headers=auth).status_code == 403
    admin = make_key("ops", "admin")
    response = client.post("/api/v1/queues/support/claim", headers=bearer(admin))
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "not_a_reviewer_key"


def test_consensus_history_is_blind_for_reviewers(client, auth, make_queue, make_user,
                                                  make_key):
    make_queue("pair", required_reviews=2)
    keys = {n: make_key(f"{n}-key", "review", make_user(n, queues=("pair",)))
            for n in ("ana", "ben")}
    item_id = client.post("/api/v1/items", headers=auth, json={
        "queue": "pair", "output": "x", "confidence": 0.1}).get_json()["id"]
    body = claim(client, keys["ana"], "pair").get_json()
    first = client.post(f"/api/v1/items/{item_id}/decision", headers=bearer(keys["ana"]),
                        json={"outcome": "approve", "lease_token": body["lease"]["token"]})
    assert first.get_json()["result"]["final"] is False
    assert claim(client, keys["ana"], "pair").status_code == 204
    seen = client.get(f"/api/v1/items/{item_id}?history=1", headers=bearer(keys["ben"]))
    reviewed = [e for e in seen.get_json()["history"] if e["kind"] == "reviewed"]
    assert reviewed and reviewed[0]["data"] == {}
    body = claim(client, keys["ben"], "pair").get_json()
    final = client.post(f"/api/v1/items/{item_id}/decision", headers=bearer(keys["ben"]),
                        json={"outcome": "approve", "lease_token": body["lease"]["token"]})
    assert final.get_json()["result"]["final"] is True
    assert client.get(f"/api/v1/items/{item_id}", headers=auth).get_json()["status"] == \
        "approved"
