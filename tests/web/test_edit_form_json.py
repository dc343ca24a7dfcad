""""Edit then approve" on the review page parses the edited JSON with the API's
strict parser: non-finite numbers, NUL, lone surrogates and deep nesting get a
clear message on the review page (never a 500) and decide nothing; the depth
cap is the API's (32), and good edits keep working."""

from __future__ import annotations

import pytest

from review.core.models import Item
from tests.web.forms import csrf, login
from tests.web.test_queue_pages import claim, fresh_item, lease_token


@pytest.fixture
def json_item(client, auth, make_queue, make_user) -> str:
    make_queue("support")
    make_user("ana", queues=("support",))
    response = client.post("/api/v1/items", headers=auth, json={
        "queue": "support", "output": {"answer": 1}, "confidence": 0.1})
    return response.get_json()["id"]


def nested(depth: int) -> str:
    return '{"a":' * (depth - 1) + "[]" + "}" * (depth - 1)


@pytest.mark.parametrize("output, message", [
    ('{"a": 1e999}', "is not valid JSON"),
    ('{"a": NaN}', "is not valid JSON"),
    ('[-Infinity]', "is not valid JSON"),
    ('"x\\u0000"', "NUL character"),
    ('{"k\\u0000": 1}', "NUL character"),
    ('"\\ud800"', "surrogate"),
    ('{"a": ["ok", "\\udfff"]}', "surrogate"),
    ('{"\\ud800": 1}', "surrogate"),
    ("[" * 10_000 + "]" * 10_000, "deeper than 32"),
    ('{"a":' * 10_000 + "1" + "}" * 10_000, "deeper than 32"),
    (nested(100), "deeper than 32"),
    (nested(33), "deeper than 32"),
])
def test_bad_edited_json_is_a_message_not_a_500(app, json_item, output, message):
    ana = login(app, "ana")
    item_id, html = claim(ana)
    assert item_id == json_item
    response = ana.post(f"/items/{item_id}/decide", data={
        "csrf_token": csrf(html), "lease_token": lease_token(html), "outcome": "edit",
        "output": output})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    assert response.headers["Location"].endswith(f"/items/{item_id}")
    page = ana.get(f"/items/{item_id}").get_data(as_text=True)
    assert "The edited output" in page and message in page
    item: Item = fresh_item(app, item_id)
    assert (item.status, item.decided_at, item.decision_output) == ("in_review", None, None)


def test_edits_as_deep_as_the_api_allows_are_kept(app, json_item):
    ana = login(app, "ana")
    item_id, html = claim(ana)
    response = ana.post(f"/items/{item_id}/decide", data={
        "csrf_token": csrf(html), "lease_token": lease_token(html), "outcome": "edit",
        "output": nested(32)})
    assert response.status_code == 302
    item = fresh_item(app, item_id)
    assert (item.status, item.decision_outcome) == ("approved", "edit")
    depth, node = 1, item.decision_output
    while isinstance(node, dict):
        depth, node = depth + 1, node["a"]
    assert depth == 32 and node == []
