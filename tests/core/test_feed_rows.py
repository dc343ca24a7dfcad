"""The decisions feed reads plain rows and writes them with orjson (review/core/items.py,
review/api/items.py): its answer is the one the ORM path and jsonify gave, key for key and
value for value, for items with every optional part (check, decision, model, usage,
non-ASCII text, nested metadata) and without them."""

from __future__ import annotations

import json

from review.core.items import item_to_dict
from review.core.models import Item
from tests.core.feedkit import decide_committed

RICH = {"queue": "support", "output": "Grüße, 世界 — \"quoted\"\n", "confidence": 0.1,
        "input": {"question": "¿qué?", "nested": [1, 2.5, None, True, {"k": "v"}]},
        "context": [{"source": "kb", "text": "ü"}], "metadata": {"tenant": "a", "n": 3},
        "model": {"name": "m", "version": "7"}, "prompt_version": "p1", "priority": 2,
        "external_id": "ext-1",
        "usage": {"input_tokens": 12, "output_tokens": 30, "cost": 0.0015}}


def test_the_feed_answers_what_item_to_dict_and_jsonify_did(app, client, auth, make_queue,
                                                            db):
    make_queue("support")
    plain = client.post("/api/v1/items", headers=auth,
                        json={"queue": "support", "output": "ok", "confidence": 0.99})
    rich = client.post("/api/v1/items", headers=auth, json=RICH)
    assert plain.status_code == rich.status_code == 201, rich.get_data(as_text=True)
    decide_committed(app, rich.get_json()["id"])
    resp = client.get("/api/v1/decisions?limit=10", headers=auth)
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    body = resp.get_json()
    ids = [item["id"] for item in body["items"]]
    assert sorted(ids) == sorted([plain.get_json()["id"], rich.get_json()["id"]])
    db.expire_all()
    expected = [json.loads(app.json.dumps(item_to_dict(db.get(Item, item_id))))
                for item_id in ids]
    assert body["items"] == expected
    # Same key order as jsonify (sorted), and the trailing newline it writes.
    raw = resp.get_data(as_text=True)
    assert raw.endswith("}\n")
    assert list(json.loads(raw)["items"][0]) == sorted(expected[0])
    assert body["items"][ids.index(rich.get_json()["id"])]["decision"]["outcome"] == "approve"


def test_a_value_orjson_refuses_is_still_answered(app, client, auth, make_queue, db):
    from sqlalchemy import update

    make_queue("support")
    item = client.post("/api/v1/items", headers=auth,
                       json={"queue": "support", "output": "ok", "confidence": 0.99})
    # An integer beyond 64 bits in stored metadata (orjson refuses it; json does not).
    db.execute(update(Item).where(Item.id == item.get_json()["id"])
               .values(meta={"big": 2**70}))
    db.commit()
    resp = client.get("/api/v1/decisions", headers=auth)
    assert resp.status_code == 200
    assert resp.get_json()["items"][0]["metadata"] == {"big": 2**70}
