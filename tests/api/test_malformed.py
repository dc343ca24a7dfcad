"""Hand-written hostile requests against every route (ingest's own cases live
in test_ingest.py): oversize bodies, deep nesting, wrong content types,
non-finite numbers, invalid UTF-8, NUL characters. Each gets a clear 4xx in
the one error shape and stores nothing.

Routes with a JSON body are found in the OpenAPI document, so a new route is
covered as soon as it is documented.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from review.core.models import Item, ItemEvent, Review
from review.core.settings import settings


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
def keys(make_queue, make_key, make_user) -> dict[str, dict[str, str]]:
    make_queue("support", audit_rate=0.0)
    reviewer = make_user("rita", "reviewer", queues=("support",))
    raw = {"submit": make_key("upstream", "submit"), "admin": make_key("ops", "admin"),
           "review": make_key("rita-key", "review", reviewer)}
    return {scope: {"Authorization": f"Bearer {key}"} for scope, key in raw.items()}


@pytest.fixture
def item_id(client, keys) -> str:
    resp = client.post("/api/v1/items", headers=keys["submit"],
                       json={"queue": "support", "output": "ok", "confidence": 0.2})
    return resp.get_json()["id"]


def fill(path: str, item_id: str) -> str:
    """Real values for path parameters, so the body (not a 404) is what is judged."""

    def value(match: re.Match) -> str:
        name = match.group(1)
        if name == "item_id":
            return item_id
        return "1" if name.endswith("id") else "support"

    return re.sub(r"\{(\w+)\}", value, path)


DEEP = b"[" * 5000 + b"]" * 5000
HOSTILE = [
    pytest.param(b'{"a": ', "application/json", 400, "invalid_json", id="truncated"),
    pytest.param(b'{"a": NaN}', "application/json", 400, "invalid_json", id="nan"),
    pytest.param(b'{"a": -Infinity}', "application/json", 400, "invalid_json", id="-inf"),
    pytest.param(b'{"a": 1e999}', "application/json", 400, "invalid_json",
                 id="overflowing-float"),
    pytest.param(b'\xc3\x28', "application/json", 400, "invalid_utf8", id="bad-utf8"),
    pytest.param(b'{"a": "\xed\xa0\x80"}', "application/json", 400, "invalid_utf8",
                 id="surrogate-utf8"),
    pytest.param(b'{"a": "\\u0000"}', "application/json", 400, "invalid_characters",
                 id="nul-char"),
    pytest.param(b'{"\\u0000": 1}', "application/json", 400, "invalid_characters",
                 id="nul-key"),
    pytest.param(DEEP, "application/json", 400, "too_deep", id="deep-array"),
    pytest.param(b'{"a":' * 40 + b"1" + b"}" * 40, "application/json", 400, "too_deep",
                 id="deep-object"),
    pytest.param(b"a=1", "application/x-www-form-urlencoded", 415, "unsupported_media_type",
                 id="form"),
    pytest.param(b"{}", "text/plain", 415, "unsupported_media_type", id="text"),
    pytest.param(b"<a/>", "application/xml", 415, "unsupported_media_type", id="xml"),
    pytest.param(b"", "application/json", 400, "invalid_json", id="empty"),
]


@pytest.mark.parametrize("data, content_type, status, code", HOSTILE)
@pytest.mark.parametrize("path, method", body_operations())
def test_hostile_bodies_get_clear_4xx(client, keys, item_id, db, path, method, data,
                                      content_type, status, code):
    before = _counts(db)
    resp = client.open(fill(path, item_id), method=method.upper(), data=data,
                       headers={**keys[scope_of(path, method)], "Content-Type": content_type})
    assert 400 <= resp.status_code < 500, resp.get_data(as_text=True)
    error = resp.get_json()["error"]
    assert error["code"] and error["message"]
    if status is not None and "{" not in path:
        # No path parameter, so nothing can fail before the body is read.
        assert (resp.status_code, error["code"]) == (status, code)
    assert _counts(db) == before


@pytest.mark.parametrize("path, method", body_operations())
def test_oversize_bodies_get_413(client, keys, item_id, app, path, method):
    big = b'{"x": "' + b"x" * (settings(app).MAX_CONTENT_LENGTH + 1) + b'"}'
    resp = client.open(fill(path, item_id), method=method.upper(), data=big,
                       headers={**keys[scope_of(path, method)],
                                "Content-Type": "application/json"})
    assert resp.status_code == 413
    assert resp.get_json()["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize("url", [
    "/api/v1/items/abc%00def",
    "/api/v1/items/abc%00def/events",
    "/api/v1/decisions?queue=sup%00port",
    "/api/v1/decisions?after=%00",
    "/api/v1/decisions?limit=%00",
    "/api/v1/webhooks/deliveries?item_id=a%00b",
    "/api/v1/webhooks/deliveries?status=%00",
])
def test_nul_in_url_gets_400(client, keys, url):
    resp = client.get(url, headers=keys["admin"])
    assert resp.status_code == 400
    assert "NUL" in resp.get_json()["error"]["message"]


@pytest.mark.parametrize("query, code", [
    ("limit=abc", "bad_limit"), ("limit=0", "bad_limit"), ("limit=1001", "bad_limit"),
    ("limit=", "bad_limit"), ("limit=1e3", "bad_limit"),
    ("limit=99999999999999999999999999", "bad_limit"),
    ("after=not-a-cursor", "bad_cursor"), ("after=%FF%FE", "bad_cursor"),
])
def test_decisions_feed_refuses_bad_query(client, keys, query, code):
    resp = client.get(f"/api/v1/decisions?{query}", headers=keys["submit"])
    assert resp.status_code == 400
    assert resp.get_json()["error"]["code"] == code


@pytest.mark.parametrize("query", [
    "limit=0", "limit=201", "limit=x", "limit=", "before=0", "before=-1",
    "before=9223372036854775808", "before=1e5", "status=", "status=bogus",
])
def test_deliveries_list_refuses_bad_query(client, keys, query):
    resp = client.get(f"/api/v1/webhooks/deliveries?{query}", headers=keys["admin"])
    assert resp.status_code == 400, query
    assert resp.get_json()["error"]["code"].startswith("bad_")


@pytest.mark.parametrize("delivery_id", ["9223372036854775808", "99999999999999999999999",
                                         "-1", "1.5", "x"])
def test_out_of_range_delivery_ids_are_404(client, keys, delivery_id):
    assert client.get(f"/api/v1/webhooks/deliveries/{delivery_id}",
                      headers=keys["admin"]).status_code == 404
    assert client.post(f"/api/v1/webhooks/deliveries/{delivery_id}/resend",
                       headers=keys["admin"]).status_code == 404


def test_nul_in_login_form_gets_400(app, make_user):
    from app import create_app
    from tests.conftest import make_config

    make_user("rita")
    cfg = app.config
    no_csrf = create_app(make_config(cfg["DATABASE_URL"], cfg["REDIS_URL"],
                                     cfg["INSTANCE_DIR"], WTF_CSRF_ENABLED=False))
    resp = no_csrf.test_client().post("/login", data={"name": "ri\x00ta",
                                                      "password": "correct horse"})
    assert resp.status_code == 400


def test_huge_batch_item_count_is_refused_before_storing(client, keys, db):
    items = [{"queue": "support", "output": "x", "confidence": 0.5}] * 10_000
    resp = client.post("/api/v1/items/batch", json={"items": items}, headers=keys["submit"])
    assert resp.status_code == 422
    assert db.scalar(select(func.count()).select_from(Item)) == 0


def _counts(db) -> tuple[int, int, int]:
    db.rollback()  # see other sessions' commits
    return tuple(db.scalar(select(func.count()).select_from(t)) for t in (Item, ItemEvent,
                                                                          Review))
