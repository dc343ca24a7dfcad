"""Who may use the account routes: the admin pages and the admin API are for admins
only (reviewers and supervisors get 403, keys of another scope 403, anonymous callers a
redirect to /login or a 401), the own-password page for anyone signed in. A revoked
admin key and a deactivated admin's open session lose access on the next request.

The routes are read from `app.url_map`, so one added later is checked too."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from flask import Flask

from tests.conftest import make_config

PASSWORD = "correct horse"
WEB_ADMIN = {"admin.users", "admin.create_user", "admin.deactivate_user",
             "admin.activate_user", "admin.set_role", "admin.reset_password", "admin.members",
             "admin.add_member", "admin.remove_member", "admin.keys", "admin.create_key",
             "admin.revoke", "admin.rotate", "admin.queues"}
API_ADMIN = {"api.admin_users", "api.admin_user_create", "api.admin_user_deactivate",
             "api.admin_user_activate", "api.admin_user_role", "api.admin_user_password",
             "api.admin_members", "api.admin_member", "api.admin_keys", "api.admin_key_create",
             "api.admin_key_revoke", "api.admin_key_rotate", "api.admin_account_events"}


@pytest.fixture
def plain_app(app: Flask) -> Flask:
    """The same database without CSRF: what is checked here is who may, not the token
    (tests/web/test_admin_pages.py checks every form's token)."""
    from review.factory import create_app

    cfg = app.config
    return create_app(make_config(cfg["DATABASE_URL"], cfg["REDIS_URL"], cfg["INSTANCE_DIR"],
                                  WTF_CSRF_ENABLED=False))


def routes(app: Flask, endpoints: set[str]) -> list[tuple[str, str, str]]:
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint not in endpoints:
            continue
        url = rule.rule
        for arg, converter in rule._converters.items():
            sample = "1" if type(converter).__name__ == "IntegerConverter" else "support"
            url = re.sub(rf"<[^>]*\b{arg}>", sample, url)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((rule.endpoint, method, url))
    return found


def login(client, name: str) -> None:
    resp = client.post("/login", data={"name": name, "password": PASSWORD})
    assert resp.status_code == 302


def test_every_account_route_is_listed_here(app):
    """A new admin or account route must be added to the sets above (and so checked)."""
    endpoints = {r.endpoint for r in app.url_map.iter_rules()}
    assert {e for e in endpoints if e.startswith("admin.")} == WEB_ADMIN
    assert {e for e in endpoints if e.startswith("api.admin_")} == API_ADMIN
    assert {e for e in endpoints if e.startswith("account.")} == {"account.password"}


def test_anonymous_is_sent_to_login_or_gets_401(plain_app):
    client = plain_app.test_client()
    for _endpoint, method, url in routes(plain_app, WEB_ADMIN | {"account.password"}):
        resp = client.open(url, method=method)
        assert resp.status_code == 302, (method, url)
        assert urlsplit(resp.headers["Location"]).path == "/login"
    for _endpoint, method, url in routes(plain_app, API_ADMIN):
        resp = client.open(url, method=method, json={})
        assert resp.status_code == 401, (method, url)
        assert resp.get_json()["error"]["code"] == "unauthorized"


def test_reviewers_and_supervisors_get_403_on_the_admin_pages(plain_app, make_user,
                                                              make_queue):
    make_queue("support")
    for role in ("reviewer", "supervisor"):
        make_user(f"user-{role}", role, queues=("support",))
        client = plain_app.test_client()
        login(client, f"user-{role}")
        checked = 0
        for _endpoint, method, url in routes(plain_app, WEB_ADMIN):
            assert client.open(url, method=method).status_code == 403, (role, method, url)
            checked += 1
        assert checked == len(routes(plain_app, WEB_ADMIN)) >= len(WEB_ADMIN)
        assert client.get("/account/password").status_code == 200  # their own page


def test_keys_of_other_scopes_and_review_keys_of_admins_get_403(plain_app, make_user,
                                                                make_key):
    boss = make_user("boss", "admin")
    keys = {"submit": make_key("upstream", "submit"),
            # A review key acts as its user, even an admin: it is not an admin key.
            "review": make_key("boss-key", "review", boss)}
    client = plain_app.test_client()
    for _endpoint, method, url in routes(plain_app, API_ADMIN):
        for scope, raw in keys.items():
            resp = client.open(url, method=method, json={},
                               headers={"Authorization": f"Bearer {raw}"})
            assert resp.status_code == 403, (scope, method, url)
            assert resp.get_json()["error"]["code"] == "wrong_scope"


def test_a_revoked_admin_key_and_a_deactivated_admin_lose_access_at_once(
        plain_app, make_user, make_key):
    make_user("boss", "admin")
    sam = make_user("sam", "admin")
    ops = {"Authorization": f"Bearer {make_key('ops', 'admin')}"}
    spare = {"Authorization": f"Bearer {make_key('spare', 'admin')}"}
    client = plain_app.test_client()
    keys = client.get("/api/v1/admin/keys", headers=ops).get_json()["keys"]
    ops_id = next(k["id"] for k in keys if k["name"] == "ops")
    assert client.post(f"/api/v1/admin/keys/{ops_id}/revoke", headers=spare).status_code == 200
    for _endpoint, method, url in routes(plain_app, API_ADMIN):
        resp = client.open(url, method=method, json={}, headers=ops)
        assert (resp.status_code, resp.get_json()["error"]["code"]) == (401, "key_revoked")

    browser = plain_app.test_client()
    login(browser, "sam")
    assert browser.get("/admin/users").status_code == 200
    boss = plain_app.test_client()
    login(boss, "boss")
    assert boss.post(f"/admin/users/{sam.id}/deactivate").status_code == 302
    for _endpoint, method, url in routes(plain_app, WEB_ADMIN):
        resp = browser.open(url, method=method)
        assert resp.status_code == 302 and "/login" in resp.headers["Location"], url
