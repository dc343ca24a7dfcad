"""Who may do what, for every route the app has.

Routes are enumerated from `app.url_map`, so a new route is covered the day
it is added: it must either be listed in PUBLIC (with the reason) or refuse
anonymous callers (401 on the API, a redirect to /login on the web), refuse
a key or role that is not enough (403), and refuse revoked keys and dead
sessions. IDOR, key storage and rate limits have their own tests below.
"""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from flask import Flask
from sqlalchemy import inspect, select, text

from review.cli import main
from review.core.models import ROLES, ApiKey, Base
from tests.conftest import make_config

# Endpoints anyone may call, and why.
PUBLIC = {
    "static": "CSS and JS files",
    "auth.login": "the login form itself",
    "sso.start": "starts single sign-on (404 without OIDC_ISSUER; tests/security/test_oidc.py)",
    "sso.callback": "the provider's answer, checked against the browser's pending sign-in "
                    "(tests/security/test_oidc.py)",
    "api.openapi_json": "the API description",
    "metrics.metrics": "open unless METRICS_TOKEN is set, refused in production without it "
                       "(tested below and in tests/web/test_metrics_production.py)",
    "docs.api_docs": "the API reference page, rendered from the public OpenAPI document",
    "docs.swagger_ui_file": "the two static files of the API reference page (Swagger UI)",
    "health.healthz": "the load balancer's probe: up/down only, no data",
    "health.favicon": "a redirect to the static icon",
}
# The least role a web area needs; everything else needs a signed-in user.
WEB_ROLE_BY_PREFIX = {"/admin": "admin", "/supervise": "supervisor"}
PASSWORD = "correct horse"


@pytest.fixture
def plain_app(app: Flask) -> Flask:
    """The same database without CSRF, so what is checked is the login, not the token
    (CSRF has its own test below)."""
    cfg = app.config
    from app import create_app

    return create_app(make_config(cfg["DATABASE_URL"], cfg["REDIS_URL"], cfg["INSTANCE_DIR"],
                                  WTF_CSRF_ENABLED=False))


def routes(app: Flask) -> list[tuple[str, str, str]]:
    """(endpoint, method, url with sample arguments) for every non-public route."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC:
            continue
        url = rule.rule
        for arg, converter in rule._converters.items():
            sample = "1" if type(converter).__name__ == "IntegerConverter" else "sample"
            url = re.sub(rf"<[^>]*\b{arg}>", sample, url)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((rule.endpoint, method, url))
    return found


def api_routes(app: Flask):
    return [r for r in routes(app) if r[2].startswith("/api/")]


def web_routes(app: Flask):
    return [r for r in routes(app) if not r[2].startswith("/api/")]


def least_role(url: str) -> str:
    for prefix, role in WEB_ROLE_BY_PREFIX.items():
        if url.startswith(prefix):
            return role
    return "reviewer"


def login(client, name: str, password: str = PASSWORD) -> None:
    resp = client.post("/login", data={"name": name, "password": password})
    assert resp.status_code == 302, resp.get_data(as_text=True)


def test_every_api_route_declares_its_scopes(app):
    for endpoint, _method, url in api_routes(app):
        scopes = getattr(app.view_functions[endpoint], "required_scopes", None)
        assert scopes, f"{url} ({endpoint}) is not behind require_key(...)"


def test_anonymous_gets_401_on_every_api_route(plain_app):
    client = plain_app.test_client()
    for _endpoint, method, url in api_routes(plain_app):
        for headers in ({}, {"Authorization": "Bearer rv_not-a-key"},
                        {"Authorization": "Basic dXNlcjpwdw=="}):
            resp = client.open(url, method=method, headers=headers, json={})
            assert resp.status_code == 401, (method, url, headers)
            assert resp.headers["WWW-Authenticate"] == "Bearer"
            assert resp.get_json()["error"]["code"] in ("unauthorized", "invalid_key")


def test_revoked_key_and_deactivated_user_get_401(plain_app, make_key, make_user, db):
    from review.core.clock import utcnow
    from review.core.models import User

    revoked = make_key("old", "admin")
    db.scalar(select(ApiKey).where(ApiKey.name == "old")).revoked_at = utcnow()
    rita = make_user("rita", "admin")
    rita_key = make_key("rita-key", "review", rita)
    db.get(User, rita.id).active = False
    db.commit()
    client = plain_app.test_client()
    for _endpoint, method, url in api_routes(plain_app):
        resp = client.open(url, method=method, json={},
                           headers={"Authorization": f"Bearer {revoked}"})
        assert (resp.status_code, resp.get_json()["error"]["code"]) == (401, "key_revoked"), url
        resp = client.open(url, method=method, json={},
                           headers={"Authorization": f"Bearer {rita_key}"})
        assert (resp.status_code, resp.get_json()["error"]["code"]) == \
            (401, "user_inactive"), url


def test_wrong_scope_gets_403_on_every_api_route(plain_app, make_key, make_user):
    reviewer = make_user("rita", "reviewer")
    keys = {"submit": make_key("upstream", "submit"),
            "review": make_key("rita-key", "review", reviewer)}
    client = plain_app.test_client()
    checked = 0
    for endpoint, method, url in api_routes(plain_app):
        allowed = plain_app.view_functions[endpoint].required_scopes
        for scope, raw in keys.items():
            if scope in allowed:
                continue
            resp = client.open(url, method=method, json={},
                               headers={"Authorization": f"Bearer {raw}"})
            assert resp.status_code == 403, (scope, method, url)
            assert resp.get_json()["error"]["code"] == "wrong_scope"
            checked += 1
    assert checked > 0


def test_anonymous_is_sent_to_login_on_every_web_route(plain_app):
    client = plain_app.test_client()
    for _endpoint, method, url in web_routes(plain_app):
        resp = client.open(url, method=method, headers={"Accept": "text/html"})
        assert resp.status_code == 302, (method, url, resp.status_code)
        target = urlsplit(resp.headers["Location"])
        assert target.path == "/login", (method, url)


def test_a_role_below_the_area_gets_403(plain_app, make_user):
    for role in ROLES:
        make_user(f"user-{role}", role)
    rank = {role: i for i, role in enumerate(ROLES)}
    checked = 0
    for role in ROLES:
        client = plain_app.test_client()
        login(client, f"user-{role}")
        for _endpoint, method, url in web_routes(plain_app):
            if url == "/logout":
                continue
            needed = least_role(url)
            resp = client.open(url, method=method)
            if rank[role] < rank[needed]:
                assert resp.status_code == 403, (role, method, url)
                checked += 1
            else:
                assert resp.status_code not in (401, 403, 500), (role, method, url)
    assert checked > 0


def test_web_posts_need_the_csrf_token(app, make_user):
    make_user("root", "admin")
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    token = token or re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token, "the login form carries a CSRF token"
    assert client.post("/login", data={"name": "root", "password": PASSWORD}).status_code == 400
    resp = client.post("/login", data={"name": "root", "password": PASSWORD,
                                       "csrf_token": token.group(1)})
    assert resp.status_code == 302
    for _endpoint, method, url in web_routes(app):
        if method == "POST":
            assert client.post(url).status_code == 400, url


class TestDeadSessions:
    """A session that ended in any way no longer opens a page."""

    @pytest.fixture
    def signed_in(self, plain_app, make_user):
        user = make_user("rita", "admin")
        client = plain_app.test_client()
        login(client, "rita")
        assert client.get("/").status_code == 200
        return client, user

    def replay(self, plain_app, cookie: str):
        fresh = plain_app.test_client()
        fresh.set_cookie("session", cookie)
        return fresh.get("/")

    def test_logged_out_cookie_replayed(self, plain_app, signed_in):
        client, _user = signed_in
        cookie = client.get_cookie("session").value
        client.post("/logout")
        assert client.get("/").status_code == 302
        resp = self.replay(plain_app, cookie)
        assert resp.status_code == 302 and "/login" in resp.headers["Location"]

    def test_deactivated_user(self, plain_app, signed_in, db):
        from review.core.models import User

        client, user = signed_in
        db.get(User, user.id).active = False
        db.commit()
        assert client.get("/").status_code == 302

    def test_session_version_bumped_elsewhere(self, plain_app, signed_in, db):
        from review.core.models import User

        client, user = signed_in
        db.get(User, user.id).session_version += 1  # e.g. a password change
        db.commit()
        assert client.get("/").status_code == 302

    def test_expired_cookie(self, plain_app, signed_in):
        """A cookie issued longer ago than PERMANENT_SESSION_LIFETIME: Flask
        checks the signature's timestamp, so it is refused like a forged one."""
        import time

        client, _user = signed_in
        serializer = plain_app.session_interface.get_signing_serializer(plain_app)
        data = serializer.loads(client.get_cookie("session").value)
        age = plain_app.permanent_session_lifetime + timedelta(days=1)
        # The same payload, signed as the app would have signed it back then.
        old = serializer.make_signer()
        old.get_timestamp = lambda: int(time.time() - age.total_seconds())
        payload = serializer.dump_payload(data)
        cookie = old.sign(payload).decode()
        assert serializer.loads(cookie) == data  # only the age differs
        resp = self.replay(plain_app, cookie)
        assert resp.status_code == 302 and "/login" in resp.headers["Location"]

    def test_forged_cookie(self, plain_app, signed_in):
        client, _user = signed_in
        cookie = client.get_cookie("session").value
        head, _, sig = cookie.rpartition(".")
        forged = head + "." + ("A" if sig[0] != "A" else "B") + sig[1:]
        assert self.replay(plain_app, forged).status_code == 302


def test_metrics_need_the_token_when_one_is_set(app):
    cfg = app.config
    from app import create_app

    guarded = create_app(make_config(cfg["DATABASE_URL"], cfg["REDIS_URL"],
                                     cfg["INSTANCE_DIR"], METRICS_TOKEN="s3cret-token"))
    client = guarded.test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get("/metrics",
                      headers={"Authorization": "Bearer s3cret-token"}).status_code == 200


class TestIdor:
    """Another submitter's item answers 404, exactly like a missing one."""

    @pytest.fixture
    def two_owners(self, client, make_queue, make_key):
        make_queue("support", audit_rate=0.0)
        alice = {"Authorization": f"Bearer {make_key('alice-svc', 'submit')}"}
        bob = {"Authorization": f"Bearer {make_key('bob-svc', 'submit')}"}
        admin = {"Authorization": f"Bearer {make_key('ops', 'admin')}"}
        items = [client.post("/api/v1/items", headers=alice, json={
            "queue": "support", "output": "secret", "confidence": c}).get_json()["id"]
            for c in (0.2, 0.95)]
        return alice, bob, admin, items

    def test_item_and_events(self, client, two_owners):
        alice, bob, admin, items = two_owners
        for item_id in items:
            for url in (f"/api/v1/items/{item_id}", f"/api/v1/items/{item_id}?history=1",
                        f"/api/v1/items/{item_id}/events"):
                assert client.get(url, headers=alice).status_code == 200
                assert client.get(url, headers=admin).status_code == 200
                theirs = client.get(url, headers=bob)
                missing = client.get(url.replace(item_id, "f" * 32), headers=bob)
                assert theirs.status_code == missing.status_code == 404
                # Same answer shape as a missing id, so ids cannot be probed.
                assert theirs.get_json()["error"]["code"] == \
                    missing.get_json()["error"]["code"]

    def test_decisions_feed(self, client, two_owners):
        alice, bob, admin, items = two_owners
        assert [i["id"] for i in client.get("/api/v1/decisions",
                                            headers=alice).get_json()["items"]] == [items[1]]
        assert client.get("/api/v1/decisions", headers=bob).get_json()["items"] == []
        assert len(client.get("/api/v1/decisions", headers=admin).get_json()["items"]) == 1

    def test_rotated_key_of_the_same_owner_still_sees(self, client, two_owners, make_key):
        _alice, _bob, _admin, items = two_owners
        rotated = {"Authorization": f"Bearer {make_key('alice-svc', 'submit')}"}
        assert client.get(f"/api/v1/items/{items[0]}", headers=rotated).status_code == 200


def test_api_keys_are_shown_once_and_stored_hashed(app, db, make_user):
    """Create keys the way operators do (the CLI) and look for the raw key in
    every column of every table: only its SHA-256 and a short prefix are kept."""
    make_user("rita", "reviewer")
    runner = app.test_cli_runner()
    raws = []
    for args in (["keys", "create", "svc"], ["keys", "create", "rita-key", "--scope", "review",
                                               "--user", "rita"]):
        out = runner.invoke(main, args=args).output
        raws.append(re.search(r"\b(rv_\S+)", out).group(1))
    again = runner.invoke(main, args=["keys", "create", "svc"]).output
    assert raws[0] not in again  # a new key, never the old one again
    from review.core.accounts import hash_key

    db.rollback()
    stored = {k.key_hash for k in db.scalars(select(ApiKey))}
    assert {hash_key(r) for r in raws} <= stored
    engine = db.get_bind()
    for table in Base.metadata.sorted_tables:
        columns = [c["name"] for c in inspect(engine).get_columns(table.name)]
        for row in db.execute(text(f"SELECT * FROM {table.name}")):
            for column, value in zip(columns, row, strict=True):
                for raw in raws:
                    assert raw[10:] not in str(value), f"raw key in {table.name}.{column}"


class TestRateLimits:
    @pytest.fixture
    def limited(self, app, make_queue):
        make_queue("support", audit_rate=0.0)
        cfg = app.config
        from app import create_app

        return create_app(make_config(cfg["DATABASE_URL"], cfg["REDIS_URL"],
                                      cfg["INSTANCE_DIR"], INGEST_RATE_LIMIT=3,
                                      LOGIN_RATE_LIMIT=2, WTF_CSRF_ENABLED=False))

    @staticmethod
    def until_429(send, limit: int):
        """Send until the first 429. The windows are fixed, so a boundary may
        reset the count once; 2 × limit + 1 requests always reach a 429."""
        answers = []
        for _ in range(2 * limit + 1):
            resp = send()
            answers.append(resp.status_code)
            if resp.status_code == 429:
                return resp, answers
        raise AssertionError(f"no 429 in {answers}")

    def test_ingest_per_key(self, limited, make_key):
        client = limited.test_client()
        a = {"Authorization": f"Bearer {make_key('alice-svc', 'submit')}"}
        b = {"Authorization": f"Bearer {make_key('bob-svc', 'submit')}"}
        body = {"queue": "support", "output": "x", "confidence": 0.3}
        resp, answers = self.until_429(
            lambda: client.post("/api/v1/items", json=body, headers=a), 3)
        assert answers.count(201) >= 3
        assert resp.get_json()["error"]["code"] == "rate_limited"
        assert 1 <= int(resp.headers["Retry-After"]) <= 61
        # The batch route shares the key's budget; another key has its own.
        assert client.post("/api/v1/items/batch", json={"items": [body]},
                           headers=a).status_code in (200, 429)
        assert client.post("/api/v1/items", json=body, headers=b).status_code == 201

    def test_login_per_user_and_address(self, limited, make_user):
        make_user("rita")
        make_user("sam")
        client = limited.test_client()
        resp, answers = self.until_429(
            lambda: client.post("/login", data={"name": "rita", "password": "wrong pass"}), 2)
        assert answers.count(401) >= 2
        assert 1 <= int(resp.headers["Retry-After"]) <= 301
        # Even the right password waits now; another user does not.
        assert client.post("/login", data={"name": "rita",
                                           "password": PASSWORD}).status_code == 429
        assert client.post("/login", data={"name": "sam",
                                           "password": PASSWORD}).status_code == 302


class TestWrongQueue:
    """A reviewer sees and decides only the queues they are a member of; a
    supervisor manages only the queues they supervise."""

    @pytest.fixture
    def queues(self, client, make_queue, make_key, make_user):
        make_queue("mine", audit_rate=0.0)
        make_queue("theirs", audit_rate=0.0)
        rita = make_user("rita", "reviewer", queues=("mine",))
        make_user("sue", "supervisor", queues=("mine",))
        submit = {"Authorization": f"Bearer {make_key('upstream', 'submit')}"}
        review = {"Authorization": f"Bearer {make_key('rita-key', 'review', rita)}"}
        theirs = client.post("/api/v1/items", headers=submit, json={
            "queue": "theirs", "output": "x", "confidence": 0.1}).get_json()["id"]
        return review, theirs

    def test_reviewer_api(self, client, queues):
        review, theirs = queues
        claim = client.post("/api/v1/queues/theirs/claim", headers=review)
        assert (claim.status_code, claim.get_json()["error"]["code"]) == (403, "not_a_member")
        assert client.post("/api/v1/queues/nope/claim", headers=review).status_code == 404
        assert client.post("/api/v1/queues/mine/claim", headers=review).status_code == 204
        assert client.get(f"/api/v1/items/{theirs}", headers=review).status_code == 404
        for action, body in (("decision", {"outcome": "approve", "lease_token": "t"}),
                             ("release", {"lease_token": "t"}),
                             ("lease", {"lease_token": "t"}),
                             ("escalate", {"lease_token": "t"})):
            resp = client.post(f"/api/v1/items/{theirs}/{action}", json=body, headers=review)
            assert resp.status_code == 404, action

    def test_reviewer_web(self, plain_app, queues):
        _review, theirs = queues
        web = plain_app.test_client()
        login(web, "rita")
        assert web.get("/queues/mine").status_code == 200
        assert web.get("/queues/theirs").status_code in (403, 404)
        assert web.post("/queues/theirs/next").status_code in (403, 404)
        assert web.get(f"/items/{theirs}").status_code == 404
        assert web.post(f"/items/{theirs}/decide",
                        data={"outcome": "approve", "lease_token": "t"}).status_code == 404
        # Managing is for supervisors, and only of their own queues.
        assert web.get("/queues/mine/manage").status_code in (403, 404)
        sue = plain_app.test_client()
        login(sue, "sue")
        assert sue.get("/queues/mine/manage").status_code == 200
        assert sue.get("/queues/theirs/manage").status_code in (403, 404)
        assert sue.post(f"/items/{theirs}/assign", data={"reviewer": "rita"}).status_code \
            in (403, 404)
