"""Lone UTF-16 surrogates in JSON bodies: `"\\ud800"` is valid JSON text but no
Unicode string UTF-8 can encode, so hashing the body or binding it in a query
raised (a 500). Every JSON body route refuses such a string, in a value or in
an object key, with a 400 `invalid_characters` naming its JSON path, and stores
nothing; in a batch only the entry holding it is refused.

Routes are read from the OpenAPI document, so a new JSON route is covered the
day it is documented.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import func, select

from review.core.models import Item, ItemEvent, Review

BAD = "x\ud800y"
LONE_LOW = "\udc00"


def body_operations() -> list[tuple[str, str]]:
    import review.api  # noqa: F401  (route modules add their operations on import)
    from review.api.openapi import PATHS

    return sorted((path, method) for path, ops in PATHS.items()
                  for method, op in ops.items() if "requestBody" in op)


def scope_of(path: str, method: str) -> str:
    from review.api.openapi import PATHS

    found = re.search(r"scope `(\w+)`", PATHS[path][method].get("description", ""))
    return found.group(1) if found else "submit"


@pytest.fixture
def setup(client, make_queue, make_key, make_user) -> dict[str, Any]:
    make_queue("support", audit_rate=0.0)
    rita = make_user("rita", "supervisor", queues=("support",))
    keys = {"submit": make_key("upstream", "submit"), "admin": make_key("ops", "admin"),
            "review": make_key("rita-key", "review", rita)}
    headers = {scope: {"Authorization": f"Bearer {raw}"} for scope, raw in keys.items()}
    created = client.post("/api/v1/items", headers=headers["submit"], json={
        "queue": "support", "output": {"answer": 1}, "confidence": 0.1})
    assert created.status_code == 201, created.get_json()
    claim = client.post("/api/v1/queues/support/claim", headers=headers["review"])
    assert claim.status_code == 200, claim.get_data(as_text=True)
    return {"headers": headers, "item_id": created.get_json()["id"],
            "token": claim.get_json()["lease"]["token"]}


def good_body(path: str, token: str) -> dict[str, Any]:
    """A body the route would accept, so the bad string is the only thing wrong."""
    bodies: dict[str, dict[str, Any]] = {
        "/api/v1/items": {"queue": "support", "output": "fine", "confidence": 0.2,
                          "external_id": "e-1", "metadata": {"k": "v"}},
        "/api/v1/queues/{slug}/rollout": {"stage": "shadow", "note": "fine"},
        "/api/v1/queues/{slug}/breaker/reset": {"note": "fine"},
        "/api/v1/items/{item_id}/decision": {"outcome": "edit", "lease_token": token,
                                             "note": "fine", "output": {"answer": "fine"}},
        "/api/v1/items/{item_id}/release": {"lease_token": token},
        "/api/v1/items/{item_id}/lease": {"lease_token": token},
        "/api/v1/items/{item_id}/escalate": {"lease_token": token, "note": "fine"},
    }
    return bodies.get(path, {"note": "fine"})


def with_bad_value(body: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The last string value replaced by one holding a lone surrogate; its JSON path."""
    bad = dict(body)
    name = [k for k, v in body.items() if isinstance(v, str)][-1]
    bad[name] = BAD
    return bad, f"$.{name}"


def fill(path: str, item_id: str) -> str:
    return path.replace("{item_id}", item_id).replace("{slug}", "support")


def counts(db) -> tuple[int, int, int]:
    db.rollback()
    return tuple(db.scalar(select(func.count()).select_from(t)) for t in (Item, ItemEvent,
                                                                          Review))


JSON_ROUTES = [op for op in body_operations() if op[0] != "/api/v1/items/batch"]


@pytest.mark.parametrize("where", ["value", "key", "nested-key", "low-surrogate"])
@pytest.mark.parametrize("path, method", JSON_ROUTES)
def test_lone_surrogate_is_a_400_naming_its_path(client, setup, db, path, method, where):
    body = good_body(path, setup["token"])
    if where == "value":
        body, expected = with_bad_value(body)
    elif where == "key":
        body = {**body, "k" + BAD: 1}
        expected = "$['kx\\ud800y']"
    elif where == "nested-key":
        body = {**body, "metadata": {"list": [1, {BAD: "v"}]}}
        expected = "$.metadata.list[1]['x\\ud800y']"
    else:
        body = {**body, "note": ["ok", LONE_LOW]}
        expected = "$.note[1]"
    before = counts(db)
    resp = client.open(fill(path, setup["item_id"]), method=method.upper(), json=body,
                       headers=setup["headers"][scope_of(path, method)])
    assert resp.status_code == 400, resp.get_data(as_text=True)
    error = resp.get_json()["error"]
    assert error["code"] == "invalid_characters"
    assert error["details"] == {"path": expected}
    assert expected in error["message"]
    assert counts(db) == before


def test_batch_refuses_only_the_entries_holding_one(client, setup, db):
    good = {"queue": "support", "output": "fine", "confidence": 0.2}
    items = [good, {**good, "output": BAD}, {**good, "metadata": {BAD: 1}},
             {**good, "external_id": LONE_LOW}, {**good, "output": "also fine"}]
    resp = client.post("/api/v1/items/batch", json={"items": items},
                       headers=setup["headers"]["submit"])
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    assert [r["result"] for r in body["results"]] == \
        ["created", "error", "error", "error", "created"]
    assert [r["index"] for r in body["results"]] == [0, 1, 2, 3, 4]
    assert body["summary"] == {"created": 2, "replayed": 0, "error": 3}
    refused = body["results"][1:4]
    assert {r["status_code"] for r in refused} == {400}
    assert {r["error"]["code"] for r in refused} == {"invalid_characters"}
    assert [r["error"]["details"]["path"] for r in refused] == \
        ["$.items[1].output", "$.items[2].metadata['x\\ud800y']", "$.items[3].external_id"]
    db.rollback()
    stored = db.scalars(select(Item.output).order_by(Item.created_at)).all()
    assert sorted(o for o in stored if isinstance(o, str)) == ["also fine", "fine"]


def test_batch_with_a_bad_string_outside_the_entries_is_refused_whole(client, setup, db):
    before = counts(db)
    resp = client.post("/api/v1/items/batch", headers=setup["headers"]["submit"], json={
        "items": [{"queue": "support", "output": "fine", "confidence": 0.2}], BAD: 1})
    assert resp.status_code == 400
    assert resp.get_json()["error"]["code"] == "invalid_characters"
    assert resp.get_json()["error"]["details"] == {"path": "$['x\\ud800y']"}
    assert counts(db) == before


def test_batch_entries_keep_every_other_check(client, setup):
    """A NUL anywhere still refuses the whole body, as before."""
    resp = client.post("/api/v1/items/batch", headers=setup["headers"]["submit"], json={
        "items": [{"queue": "support", "output": "a\x00b", "confidence": 0.2}]})
    assert resp.status_code == 400
    assert resp.get_json()["error"]["code"] == "invalid_characters"

