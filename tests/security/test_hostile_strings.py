"""The hostile-string set (lone surrogates, NUL, an RTL override, a 1 MB line, 10,000-deep
nesting, numeric extremes) in every field of every JSON API route and every text field
of the web forms. Each answer is a 4xx JSON error (API), a 4xx, a redirect or a page
(web), or a 2xx whose accepted value is stored and reads back exactly; never a 5xx.

The API's fields come from the OpenAPI document's request schemas (nested ones and
free-form object keys included), so a route documented tomorrow is covered tomorrow.
One request per (route, field, value) against one app and one database for the
module: the world (queue, users, keys, items) is built once, and a case that needs a
lease claims one (the item the reviewer holds, or a new one).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_from_bytes

import pytest
from flask import Flask

import review.api  # noqa: F401  (route modules add their operations to PATHS on import)
from review.api.openapi import document
from tests.conftest import PG_URL, _create_pg_database, _drop_pg_database, make_config
from tests.security.hostile import (
    PARSABLE,
    Field,
    Hostile,
    contains,
    encode,
    fields,
    place,
    resolve,
)
from tests.web.forms import PASSWORD, csrf

DOC = document()
COMPONENTS = DOC["components"]["schemas"]
_names = itertools.count()


# --- The world: one app, its own database, built once for the module -------------------


class World:
    def __init__(self, app: Flask) -> None:
        self.app = app
        self.client = app.test_client()
        self.headers: dict[str, dict[str, str]] = {}
        self.ids: dict[str, Any] = {}
        self.stage = "shadow"

    def api(self, method: str, url: str, scope: str, **kwargs: Any):  # noqa: ANN201
        return self.client.open(url, method=method, headers=self.headers[scope], **kwargs)

    def submit(self) -> str:
        resp = self.api("POST", "/api/v1/items", "submit", json={
            "queue": "support", "output": {"answer": 1}, "confidence": 0.1})
        assert resp.status_code == 201, resp.get_data(as_text=True)
        return resp.get_json()["id"]

    def lease(self) -> tuple[str, str]:
        """The item rita holds (or a new one) and its lease token."""
        for _ in range(2):
            resp = self.api("POST", "/api/v1/queues/support/claim", "review")
            if resp.status_code == 200:
                body = resp.get_json()
                return body["item"]["id"], body["lease"]["token"]
            self.submit()
        raise AssertionError(resp.get_data(as_text=True))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[World]:
    from review.core.migrate import upgrade
    from review.factory import create_app

    name = None
    if PG_URL:
        url, name = _create_pg_database(PG_URL)
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('hostile') / 'review.db'}"
    upgrade(url)
    instance: Path = tmp_path_factory.mktemp("hostile-instance")
    app = create_app(make_config(url, redis_url, instance))
    world = World(app)
    _build(world)
    yield world
    app.extensions["review.engine"].dispose()
    if name:
        _drop_pg_database(PG_URL, name)


def _build(world: World) -> None:
    from review.core.accounts import create_api_key, create_user
    from review.core.db import get_session
    from review.core.models import Queue, QueueMember
    from review.core.queues import apply_policy, validate_policy

    with world.app.app_context():
        session = get_session()
        apply_policy(session, "support", validate_policy("support", {"audit_rate": 0.0}),
                     actor="test")
        session.flush()
        queue = session.query(Queue).filter_by(slug="support").one()
        rita = create_user(session, "rita", PASSWORD, "supervisor")
        create_user(session, "ada", PASSWORD, "admin")
        target = create_user(session, "tom", PASSWORD, "reviewer")
        session.add(QueueMember(queue_id=queue.id, user_id=rita.id, tags=[]))
        raws = {"submit": create_api_key(session, "upstream", "submit", None)[1],
                "admin": create_api_key(session, "ops", "admin", None)[1],
                "review": create_api_key(session, "rita-key", "review", rita)[1]}
        victim_key, _raw = create_api_key(session, "victim", "submit", None)
        session.commit()
        world.ids = {"user_id": str(target.id), "key_id": str(victim_key.id)}
    world.headers = {scope: {"Authorization": f"Bearer {raw}"} for scope, raw in raws.items()}
    world.ids["delivery_id"] = "1"
    world.ids["item_id"] = world.submit()


# --- API bodies ---------------------------------------------------------------------


def _scope(op: dict[str, Any]) -> str:
    return op.get("x-scope", "submit")


ITEM_BODY = {"queue": "support", "output": {"answer": "fine"}, "confidence": 0.2}


def base_body(world: World, path: str) -> tuple[dict[str, Any], dict[str, str]]:
    """A body the route accepts and its path parameters, so the hostile value is the one
    thing wrong."""
    params = {"slug": "support", **world.ids}
    if path.startswith("/api/v1/items/{item_id}/"):
        params["item_id"], token = world.lease()
        return {"/api/v1/items/{item_id}/decision": {"outcome": "edit", "lease_token": token,
                                                     "reason": "ok", "note": "fine",
                                                     "output": {"answer": "fine"}},
                "/api/v1/items/{item_id}/escalate": {"lease_token": token, "note": "fine"},
                }.get(path, {"lease_token": token}), params
    if path == "/api/v1/queues/{slug}/rollout":
        # Each case moves the stage, so an accepted note is stored with a change.
        world.stage = "100%" if world.stage == "shadow" else "shadow"
        return {"stage": world.stage, "note": "fine"}, params
    return {
        "/api/v1/items": {**ITEM_BODY, "external_id": f"e-{next(_names)}"},
        "/api/v1/items/batch": {"items": [{**ITEM_BODY, "external_id": f"e-{next(_names)}"}]},
        "/api/v1/admin/users": {"name": f"user{next(_names)}", "password": PASSWORD,
                                "role": "reviewer", "queues": ["support"]},
        "/api/v1/admin/users/{user_id}/role": {"role": "reviewer"},
        "/api/v1/admin/users/{user_id}/password": {"password": PASSWORD},
        "/api/v1/admin/queues/{slug}/members/{user_id}": {"tags": ["en"]},
        "/api/v1/admin/keys": {"name": f"key{next(_names)}", "scope": "submit"},
    }.get(path, {"note": "fine"}), params


def _body_fields(path: str, op: dict[str, Any]) -> list[Field]:
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    if path == "/api/v1/items/batch":
        # BatchIn's entries are ItemIns validated one by one (the schema only says so).
        return [Field(("items", 0, *f.path), f.kind) for f in fields(COMPONENTS["ItemIn"],
                                                                     COMPONENTS)]
    return fields(resolve(schema, COMPONENTS), COMPONENTS)


# Known defects, kept visible: each case fails until its fix lands (strict xfail).
SQLITE_REAL = pytest.mark.xfail(
    not PG_URL, strict=True,
    reason="SQLite only: a top-level JSON number in a JSON column (NUMERIC affinity, "
           "review/core/models.py JsonType) is stored as a REAL, so a 396-digit integer "
           "reads back as a float; nested numbers are stored as text and round-trip")
KNOWN: dict[str, pytest.MarkDecorator] = {
    **{f"{route} {where} huge-int": SQLITE_REAL for route, where in [
        ("POST /api/v1/items", "$.output"), ("POST /api/v1/items", "$.input"),
        ("POST /api/v1/items/batch", "$.items[0].output"),
        ("POST /api/v1/items/batch", "$.items[0].input"),
        ("POST /api/v1/items/{item_id}/decision", "$.output")]},
}


def case(*values: Any, id: str) -> Any:  # noqa: A002 - pytest.param's own name
    return pytest.param(*values, id=id, marks=[KNOWN[id]] if id in KNOWN else [])


BODY_CASES = [
    case(path, method, field, hostile,
         id=f"{method.upper()} {path} {field.label()} {hostile.name}")
    for path, ops in sorted(DOC["paths"].items()) for method, op in sorted(ops.items())
    if "requestBody" in op for field in _body_fields(path, op) for hostile in field.values()]

# Fields whose accepted value is never shown again (a password is stored hashed).
UNREADABLE = {"password"}


def readback(world: World, path: str, params: dict[str, str], answer: Any) -> list[Any]:
    """What the route stored, as the API reads it back (not the answer, which may show
    the value as sent rather than as stored); the answer only where nothing reads back."""
    shown = []
    item_ids = [params.get("item_id")] if "{item_id}" in path else []
    if path.startswith("/api/v1/items") and isinstance(answer, dict):
        item_ids += [answer.get("id")] + [r.get("id") for r in answer.get("results", [])]
    for item_id in filter(None, item_ids):
        shown.append(world.api("GET", f"/api/v1/items/{item_id}?history=1", "submit").get_json())
    for url in {"/api/v1/admin/users": ["/api/v1/admin/users"],
                "/api/v1/admin/keys": ["/api/v1/admin/keys"],
                "/api/v1/admin/queues/{slug}/members/{user_id}":
                    ["/api/v1/admin/queues/support/members"],
                }.get(path, ["/api/v1/queues/support"] if "{slug}" in path else []):
        shown.append(world.api("GET", url, "admin").get_json())
    return shown or [answer]


def assert_json_error(resp, what: str) -> None:  # noqa: ANN001 - a Flask test response
    assert 400 <= resp.status_code < 500, f"{what}: {resp.status_code} " \
        f"{resp.get_data(as_text=True)[:500]}"
    error = (resp.get_json(silent=True) or {}).get("error") or {}
    assert error.get("code") and error.get("message"), \
        f"{what}: not the JSON error shape: {resp.get_data(as_text=True)[:300]}"


@pytest.mark.parametrize("path, method, field, hostile", BODY_CASES)
def test_api_body_field(world: World, path: str, method: str, field: Field,
                        hostile: Hostile) -> None:
    body, params = base_body(world, path)
    url = re.sub(r"\{(\w+)\}", lambda m: params[m.group(1)], path)
    op = DOC["paths"][path][method]
    resp = world.api(method.upper(), url, _scope(op), data=encode(place(body, field), hostile),
                     content_type="application/json")
    what = f"{method.upper()} {path} {field.label()} = {hostile.name}"
    assert resp.status_code < 500, f"{what}: {resp.get_data(as_text=True)[:1000]}"
    if resp.status_code >= 400:
        return assert_json_error(resp, what)
    answer = resp.get_json()
    entry = (answer.get("results") or [{}])[0] if path.endswith("/batch") else {}
    if entry.get("result") == "error":  # a batch refuses the entry alone
        assert 400 <= entry["status_code"] < 500 and entry["error"]["code"], (what, entry)
        return
    assert hostile.name in PARSABLE, f"{what}: accepted ({resp.status_code})"
    if field.path and field.path[-1] in UNREADABLE:
        return
    shown = readback(world, path, params, answer)
    assert any(contains(s, hostile.value()) for s in shown), \
        f"{what}: accepted ({resp.status_code}) but not stored as sent"


# --- URL parameters and web forms: text, so every value is a string ----------------------

TEXT: dict[str, bytes] = {
    "lone-surrogate": b"a\xed\xa0\x80b",  # a surrogate in UTF-8 form: not valid UTF-8
    "nul": b"a\x00b",
    "rtl-override": "abc\u202edef.exe".encode(),
    "1mb-line": b"x" * 1_000_000,
    "deep-nesting": b"[" * 10_000 + b"]" * 10_000,
    "1e999": b"1e999",
    "-1e308": b"-1e308",
    "int-over-digit-limit": b"9" * 5000,
}
# A long URL is a proxy's or gunicorn's business (414); the app's own limits are tested
# with everything else.
URL_TEXT = {name: raw for name, raw in TEXT.items() if name != "1mb-line"}
URL_TEXT["8kb-line"] = b"x" * 8000

PARAM_CASES = [
    case(path, method, param["name"], param["in"], name,
         id=f"{method.upper()} {path} {param['in']}:{param['name']} {name}")
    for path, ops in sorted(DOC["paths"].items()) for method, op in sorted(ops.items())
    for param in op.get("parameters", []) for name in URL_TEXT]


@pytest.mark.parametrize("path, method, param, where, name", PARAM_CASES)
def test_api_url_parameter(world: World, path: str, method: str, param: str, where: str,
                           name: str) -> None:
    params = {"slug": "support", **world.ids}
    op = DOC["paths"][path][method]
    value = quote_from_bytes(URL_TEXT[name], safe="")
    if where == "path":
        params[param] = value
    url = re.sub(r"\{(\w+)\}", lambda m: params[m.group(1)], path)
    if where == "query":
        url += f"?{param}={value}"
    kwargs: dict[str, Any] = {}
    if "requestBody" in op and op["requestBody"].get("required"):
        kwargs["json"] = {}
    resp = world.api(method.upper(), url, _scope(op), **kwargs)
    what = f"{method.upper()} {path} {where}:{param} = {name}"
    assert resp.status_code < 500, f"{what}: {resp.get_data(as_text=True)[:1000]}"
    if resp.status_code >= 400:
        assert_json_error(resp, what)


# The web forms: (name, url with {item_id}/{user_id}/{key_id}, the form, its text fields,
# who posts it). A case that needs a lease gets one.
FORMS: list[tuple[str, str, dict[str, str], list[str], str]] = [
    ("login", "/login", {"name": "nobody", "password": "wrong password"},
     ["name", "password"], "anonymous"),
    ("decide", "/items/{item_id}/decide",
     {"outcome": "reject", "reason": "wrong", "note": "fine"},
     ["outcome", "reason", "note", "lease_token"], "rita"),
    ("edit", "/items/{item_id}/decide", {"outcome": "edit", "output": '{"answer": "ok"}'},
     ["output"], "rita"),
    ("escalate", "/items/{item_id}/escalate", {"note": "fine"}, ["note", "lease_token"],
     "rita"),
    ("release", "/items/{item_id}/release", {}, ["lease_token"], "rita"),
    ("members", "/queues/support/manage/members", {"name": "tom", "tags": "en, billing"},
     ["name", "tags"], "rita"),
    ("stage", "/queues/support/manage/rollout", {"stage": "shadow", "note": "fine"},
     ["stage", "note"], "rita"),
    ("breaker", "/queues/support/manage/breaker/reset", {"note": "fine"}, ["note"], "rita"),
    ("manage-items", "/queues/support/manage/items",
     {"item": "{item_id}", "action": "assign", "reviewer": "rita"},
     ["item", "action", "reviewer"], "rita"),
    ("assign", "/items/{item_id}/assign", {"reviewer": "rita"}, ["reviewer"], "rita"),
    ("account-password", "/account/password",
     {"current": "wrong password", "new": "another horse", "confirm": "another horse"},
     ["current", "new", "confirm"], "rita"),
    ("admin-user", "/admin/users", {"name": "newbie", "password": PASSWORD, "role": "reviewer"},
     ["name", "password", "role"], "ada"),
    ("admin-role", "/admin/users/{user_id}/role", {"role": "reviewer"}, ["role"], "ada"),
    ("admin-password", "/admin/users/{user_id}/password", {"password": PASSWORD},
     ["password"], "ada"),
    ("admin-member", "/admin/members", {"queue": "support", "user_id": "{user_id}",
                                        "tags": "en"}, ["queue", "user_id", "tags"], "ada"),
    ("admin-key", "/admin/keys", {"name": "newkey", "scope": "submit"},
     ["name", "scope", "user"], "ada"),
    ("admin-key-revoke", "/admin/keys/revoke", {"key_id": "{key_id}"}, ["key_id"], "ada"),
    ("admin-key-rotate", "/admin/keys/rotate", {"key_id": "{key_id}"}, ["key_id"], "ada"),
]

WEB_CASES = [pytest.param(form, field, name, id=f"{form[0]} {field} {name}")
             for form in FORMS for field in form[3] for name in TEXT]


@pytest.fixture(scope="module")
def browsers(world: World) -> dict[str, Any]:
    signed_in: dict[str, Any] = {}
    for name in ("rita", "ada", "anonymous"):
        browser = world.app.test_client()
        token = csrf(browser.get("/login").get_data(as_text=True))
        if name != "anonymous":
            resp = browser.post("/login", data={"csrf_token": token, "name": name,
                                                "password": PASSWORD})
            assert resp.status_code == 302, resp.get_data(as_text=True)
            token = csrf(browser.get("/account/password").get_data(as_text=True))
        signed_in[name] = (browser, token)
    return signed_in


def fill(text: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], text)


@pytest.mark.parametrize("form, field, name", WEB_CASES)
def test_web_form_field(world: World, browsers: dict[str, Any], form: tuple, field: str,
                        name: str) -> None:
    label, url, values, _fields, who = form
    browser, token = browsers[who]
    ids = dict(world.ids)
    if "{item_id}" in url or "{item_id}" in values.values():
        ids["item_id"], ids["lease_token"] = world.lease()
    pairs = {"csrf_token": token, **{k: fill(v, ids) for k, v in values.items()}}
    if "lease_token" in ids:
        pairs.setdefault("lease_token", ids["lease_token"])
    encoded = "&".join(f"{quote(k)}={quote(v)}" for k, v in pairs.items() if k != field)
    encoded += f"&{quote(field)}={quote_from_bytes(TEXT[name], safe='')}"
    resp = browser.post(fill(url, ids), data=encoded,
                        content_type="application/x-www-form-urlencoded")
    what = f"web {label} {url} {field} = {name}"
    assert resp.status_code < 500, f"{what}: {resp.status_code} {resp.get_data(as_text=True)[:800]}"
    if resp.status_code == 200:
        assert resp.mimetype in ("text/html", "application/json"), what
