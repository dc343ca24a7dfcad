"""The OpenAPI document says what the routes do (issue 14, item 10): the report routes
that need `queue` mark it required; `history` on GET /items/{id} is an enum the route
enforces; a bad decisions cursor's 400 is documented; OPTIONS answers with the methods
the document lists (/items/batch used to list GET, the /items/{item_id} rule's)."""

from __future__ import annotations

import re

import pytest

from review.api.openapi import document


def operation(path: str, method: str = "get") -> dict:
    return document()["paths"][path][method]


def param(path: str, name: str) -> dict:
    return next(p for p in operation(path)["parameters"] if p["name"] == name)


@pytest.fixture
def admin(make_key) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_key('ops', 'admin')}"}


@pytest.mark.parametrize("path, required", [("/api/v1/reports/sla", True),
                                            ("/api/v1/reports/quality", True),
                                            ("/api/v1/reports/reviewers", False)])
def test_report_queue_is_required_exactly_where_the_route_needs_it(client, admin, path,
                                                                   required):
    assert param(path, "queue")["required"] is required
    resp = client.get(path, headers=admin)
    if required:
        assert resp.status_code == 400, resp.get_data(as_text=True)
        code = resp.get_json()["error"]["code"]
        assert code == "missing_queue"
        assert code in operation(path)["responses"]["400"]["description"]
    else:
        assert resp.status_code == 200, resp.get_data(as_text=True)


def test_history_enum_is_enforced(client, auth, make_queue):
    make_queue("support")
    item = client.post("/api/v1/items", headers=auth, json={
        "queue": "support", "output": "x", "confidence": 0.2}).get_json()
    url = f"/api/v1/items/{item['id']}"
    enum = param("/api/v1/items/{item_id}", "history")["schema"]["enum"]
    for value in enum:
        resp = client.get(f"{url}?history={value}", headers=auth)
        assert resp.status_code == 200, (value, resp.get_data(as_text=True))
        assert ("history" in resp.get_json()) is (value in ("1", "true")), value
    for value in ("yes", "2", "TRUE", ""):
        resp = client.get(f"{url}?history={value}", headers=auth)
        assert resp.status_code == 400, (value, resp.get_data(as_text=True))
        assert resp.get_json()["error"]["code"] == "bad_history"
    documented = operation("/api/v1/items/{item_id}")["responses"]["400"]["description"]
    assert "bad_history" in documented


@pytest.mark.parametrize("cursor", ["garbage", "AAAA", "%00"])
def test_a_bad_cursor_is_the_documented_400(client, auth, cursor):
    resp = client.get(f"/api/v1/decisions?after={cursor}", headers=auth)
    assert resp.status_code == 400, resp.get_data(as_text=True)
    code = resp.get_json()["error"]["code"]
    assert code in ("bad_cursor", "bad_request")  # %00: the URL guard, before the route
    op = operation("/api/v1/decisions")
    assert "bad_cursor" in op["responses"]["400"]["description"]
    assert "bad_cursor" in param("/api/v1/decisions", "after")["description"]


def test_options_on_items_batch_lists_only_post(client):
    resp = client.open("/api/v1/items/batch", method="OPTIONS")
    assert resp.status_code == 200
    assert {m.strip() for m in resp.headers["Allow"].split(",")} == {"OPTIONS", "POST"}


def test_options_lists_the_documented_methods_on_every_path(client):
    for path, ops in document()["paths"].items():
        url = re.sub(r"\{(\w+)\}", "1", path)
        resp = client.open(url, method="OPTIONS")
        allowed = {m.strip() for m in resp.headers.get("Allow", "").split(",")} - {"HEAD",
                                                                                   "OPTIONS"}
        assert allowed == {m.upper() for m in ops}, path
