"""A batch that loses an external_id race to a concurrent request.

The race is made to happen, not simulated: at the batch's first flush (after its
existence check, before its INSERT), a real concurrent request commits one of the
batch's keys through its own session and connection. The batch then hits the unique
constraint, rolls back and falls back to one transaction per item.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import event, func, select

from review.core.models import Item, ItemEvent


def body(external_id: str, output: str | None = None) -> dict:
    return {"queue": "support", "output": output or f"answer {external_id}",
            "confidence": 0.3, "external_id": external_id}


@pytest.fixture(autouse=True)
def support_queue(make_queue):
    return make_queue("support", audit_rate=0.0)


@pytest.fixture
def commit_first(app, auth) -> Iterator[Callable[[dict], list[dict]]]:
    """Arm a concurrent POST of a body, committed at the next flush of any session."""
    factory = app.extensions["review.sessionmaker"]
    armed: list[dict] = []
    answers: list[dict] = []

    def before_flush(_session, _context, _instances) -> None:
        if not armed:
            return
        payload = armed.pop()  # disarmed first: the competing request flushes too

        def compete() -> None:
            resp = app.test_client().post("/api/v1/items", json=payload, headers=auth)
            answers.append({"status_code": resp.status_code, "item": resp.get_json()})

        # Another thread: its own app context, session and connection, committed
        # before this flush goes on.
        thread = threading.Thread(target=compete)
        thread.start()
        thread.join()

    event.listen(factory, "before_flush", before_flush)

    def arm(payload: dict) -> list[dict]:
        armed.append(payload)
        return answers

    yield arm
    event.remove(factory, "before_flush", before_flush)


def _stored_ids(db) -> set[str]:
    db.rollback()  # a fresh snapshot on PostgreSQL
    return set(db.scalars(select(Item.id)))


@pytest.mark.parametrize("keys", [["a", "a", "b"], ["b", "a", "a"], ["a", "b", "a", "b"]])
def test_every_id_a_batch_that_lost_a_race_answers_exists(client, auth, db, commit_first,
                                                           keys):
    competing = commit_first(body("b"))
    resp = client.post("/api/v1/items/batch", json={"items": [body(k) for k in keys]},
                       headers=auth)
    assert resp.status_code == 200
    results = resp.get_json()["results"]
    assert len(competing) == 1 and competing[0]["status_code"] == 201, competing
    stored = _stored_ids(db)
    assert len(stored) == 2
    assert {r["id"] for r in results} == stored, (results, stored)
    winner = {"b": competing[0]["item"]["id"]}
    for key, result in zip(keys, results, strict=True):
        if key == "b":
            assert result["result"] == "replayed" and result["id"] == winner["b"]
        elif key in winner:  # a later `a`: the batch's own stored item
            assert result["result"] == "replayed" and result["id"] == winner["a"]
        else:
            assert result["result"] == "created"
            winner["a"] = result["id"]
    for item_id in winner.values():
        assert client.get(f"/api/v1/items/{item_id}", headers=auth).status_code == 200
    assert db.scalar(select(func.count()).select_from(ItemEvent)
                     .where(ItemEvent.kind == "ingested")) == 2


def test_a_conflict_inside_a_batch_that_lost_a_race_names_the_stored_item(
        client, auth, db, commit_first):
    commit_first(body("b"))
    items = [body("a"), body("a", output="another answer"), body("b")]
    results = client.post("/api/v1/items/batch", json={"items": items},
                          headers=auth).get_json()["results"]
    assert [r["result"] for r in results] == ["created", "error", "replayed"]
    assert results[1]["status_code"] == 409
    assert results[1]["error"]["code"] == "idempotency_conflict"
    assert results[1]["error"]["details"]["item_id"] == results[0]["id"]
    assert _stored_ids(db) == {results[0]["id"], results[2]["id"]}


def test_a_batch_that_lost_a_race_keeps_its_replays_of_stored_items(client, auth, db,
                                                                    commit_first):
    stored = client.post("/api/v1/items", json=body("old"), headers=auth).get_json()["id"]
    commit_first(body("b"))
    items = [body("old"), body("a"), body("old"), body("b"), body("a")]
    results = client.post("/api/v1/items/batch", json={"items": items},
                          headers=auth).get_json()["results"]
    assert [r["result"] for r in results] == [
        "replayed", "created", "replayed", "replayed", "replayed"]
    assert results[0]["id"] == results[2]["id"] == stored
    assert results[4]["id"] == results[1]["id"]
    assert {r["id"] for r in results} == _stored_ids(db)
