"""The admin API over accounts, with a real admin key: users, memberships, keys and the
account audit trail. A deactivation or a revocation holds on the very next request,
for API keys and for open web sessions alike; refusals are JSON errors that change
nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from review.core.models import AccountEvent, ApiKey, QueueMember, User
from tests.web.forms import csrf, login


def inspect(app, fn):
    """Run `fn(session)` in its own app context (not the `db` fixture's, which the test
    client's requests would share, with Flask-Login's cached user)."""
    from review.core.db import get_session

    with app.app_context():
        return fn(get_session())


def count(app, model) -> int:
    return inspect(app, lambda s: s.scalar(select(func.count()).select_from(model)))


def sign_in(app, name: str, password: str) -> int:
    """The status of a login with this password, on a fresh client."""
    browser = app.test_client()
    token = csrf(browser.get("/login").get_data(as_text=True))
    return browser.post("/login", data={"name": name, "password": password,
                                        "csrf_token": token}).status_code


@pytest.fixture
def admin(make_key) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_key('ops', 'admin')}"}


def error(resp) -> tuple[int, str]:
    return resp.status_code, resp.get_json()["error"]["code"]


def test_create_list_and_refuse_users(app, client, admin, make_queue):
    make_queue("support")
    resp = client.post("/api/v1/admin/users", headers=admin, json={
        "name": "rita", "password": "correct horse", "role": "reviewer", "queues": ["support"]})
    assert resp.status_code == 201, resp.get_json()
    rita = resp.get_json()
    assert (rita["name"], rita["role"], rita["active"]) == ("rita", "reviewer", True)
    assert rita["queues"] == [{"queue": "support", "tags": []}]
    assert "correct horse" not in str(rita)
    assert login(app, "rita").get("/").status_code == 200  # the password works

    for body, expected in (
            ({"name": "rita", "password": "long enough", "role": "reviewer"},
             (409, "user_exists")),
            ({"name": "sam", "password": "long enough", "role": "reviewer",
              "queues": ["nope"]}, (404, "queue_not_found")),
            ({"name": "sam sam", "password": "long enough", "role": "reviewer"},
             (422, "invalid_name")),
            ({"name": "sam", "password": "short", "role": "reviewer"},
             (422, "validation_failed")),
            ({"name": "sam", "password": "long enough", "role": "owner"},
             (422, "validation_failed")),
            ({"name": "sam", "password": "long enough", "role": "admin", "extra": 1},
             (422, "validation_failed"))):
        assert error(client.post("/api/v1/admin/users", headers=admin, json=body)) == expected
    assert error(client.post("/api/v1/admin/users", headers=admin, data="x",
                             content_type="text/plain")) == (415, "unsupported_media_type")
    assert count(app, User) == 1 and count(app, QueueMember) == 1  # nothing half-made

    users = client.get("/api/v1/admin/users", headers=admin).get_json()["users"]
    assert [u["name"] for u in users] == ["rita"]


def test_deactivate_ends_open_sessions_and_keys_on_the_next_request(
        app, client, admin, make_user, make_key):
    rita = make_user("rita", "supervisor")
    browser = login(app, "rita")
    assert browser.get("/").status_code == 200
    key = {"Authorization": f"Bearer {make_key('rita-key', 'review', rita)}"}
    assert client.post("/api/v1/queues/nope/claim", headers=key).status_code == 404

    resp = client.post(f"/api/v1/admin/users/{rita.id}/deactivate", headers=admin)
    assert resp.status_code == 200 and resp.get_json()["active"] is False
    assert browser.get("/").status_code == 302
    assert error(client.post("/api/v1/queues/nope/claim", headers=key)) == \
        (401, "user_inactive")
    assert sign_in(app, "rita", "correct horse") == 401  # not even a new login

    resp = client.post(f"/api/v1/admin/users/{rita.id}/activate", headers=admin)
    assert resp.get_json()["active"] is True
    assert browser.get("/").status_code == 302  # the old cookie stays dead
    assert login(app, "rita").get("/").status_code == 200
    assert client.post("/api/v1/queues/nope/claim", headers=key).status_code == 404
    assert error(client.post("/api/v1/admin/users/999999/deactivate", headers=admin)) == \
        (404, "user_not_found")


def test_role_and_password(app, client, admin, make_user):
    rita = make_user("rita")
    browser = login(app, "rita")
    resp = client.post(f"/api/v1/admin/users/{rita.id}/role", headers=admin,
                       json={"role": "supervisor"})
    assert resp.get_json()["role"] == "supervisor"
    assert error(client.post(f"/api/v1/admin/users/{rita.id}/role", headers=admin,
                             json={"role": "owner"})) == (422, "validation_failed")
    resp = client.post(f"/api/v1/admin/users/{rita.id}/password", headers=admin,
                       json={"password": "a new password"})
    assert resp.status_code == 200
    assert browser.get("/").status_code == 302  # every session of hers ended
    assert sign_in(app, "rita", "correct horse") == 401
    assert sign_in(app, "rita", "a new password") == 302
    boss = make_user("boss", "admin")
    assert error(client.post(f"/api/v1/admin/users/{boss.id}/deactivate",
                             headers=admin)) == (409, "last_admin")
    assert error(client.post(f"/api/v1/admin/users/{boss.id}/role", headers=admin,
                             json={"role": "reviewer"})) == (409, "last_admin")


def test_memberships(app, client, admin, make_queue, make_user):
    make_queue("support")
    rita = make_user("rita")
    url = f"/api/v1/admin/queues/support/members/{rita.id}"
    resp = client.put(url, headers=admin, json={"tags": ["de", "legal"]})
    assert resp.get_json() == {"queue": "support", "user_id": rita.id, "name": "rita",
                               "tags": ["de", "legal"]}
    members = client.get("/api/v1/admin/queues/support/members", headers=admin).get_json()
    assert [(m["name"], m["tags"]) for m in members["members"]] == [("rita", ["de", "legal"])]
    assert client.put(url, headers=admin).get_json()["tags"] == []  # no body: no tags
    assert error(client.put(url, headers=admin, json={"tags": ["x" * 65]})) == \
        (422, "validation_failed")
    assert error(client.put("/api/v1/admin/queues/nope/members/1", headers=admin,
                            json={})) == (404, "queue_not_found")
    assert client.delete(url, headers=admin).status_code == 204
    assert error(client.delete(url, headers=admin)) == (404, "not_a_member")
    assert error(client.get("/api/v1/admin/queues/nope/members", headers=admin)) == \
        (404, "queue_not_found")
    assert count(app, QueueMember) == 0


def test_keys_create_revoke_rotate_take_effect_at_once(app, client, admin, make_queue,
                                                       make_user):
    make_queue("support")
    make_user("rita")
    body = {"queue": "support", "output": "x", "confidence": 0.99}
    resp = client.post("/api/v1/admin/keys", headers=admin, json={"name": "svc",
                                                                  "scope": "submit"})
    assert resp.status_code == 201
    created = resp.get_json()
    svc = {"Authorization": f"Bearer {created['key']}"}
    assert client.post("/api/v1/items", headers=svc, json=body).status_code == 201

    listed = client.get("/api/v1/admin/keys", headers=admin).get_json()["keys"]
    assert {k["name"] for k in listed} == {"ops", "svc"}
    assert created["key"] not in str(listed) and created["webhook_secret"] not in str(listed)

    resp = client.post(f"/api/v1/admin/keys/{created['id']}/rotate", headers=admin)
    assert resp.status_code == 201
    rotated = resp.get_json()
    assert rotated["replaces"] == created["id"] and rotated["key"] != created["key"]
    assert error(client.post("/api/v1/items", headers=svc, json=body)) == (401, "key_revoked")
    new = {"Authorization": f"Bearer {rotated['key']}"}
    assert client.post("/api/v1/items", headers=new, json=body).status_code == 201
    secrets = inspect(app, lambda s: {k.webhook_secret for k in s.scalars(
        select(ApiKey).where(ApiKey.name == "svc"))})
    assert secrets == {created["webhook_secret"]}

    resp = client.post(f"/api/v1/admin/keys/{rotated['id']}/revoke", headers=admin)
    assert resp.status_code == 200 and resp.get_json()["revoked_at"]
    assert error(client.post("/api/v1/items", headers=new, json=body)) == (401, "key_revoked")
    assert error(client.post(f"/api/v1/admin/keys/{rotated['id']}/revoke",
                             headers=admin)) == (409, "key_revoked")
    live = client.get("/api/v1/admin/keys?revoked=0", headers=admin).get_json()["keys"]
    assert [k["name"] for k in live] == ["ops"]
    assert error(client.post("/api/v1/admin/keys", headers=admin, json={
        "name": "rita-key", "scope": "review"})) == (422, "user_required")
    resp = client.post("/api/v1/admin/keys", headers=admin, json={
        "name": "rita-key", "scope": "review", "user": "rita"})
    assert resp.get_json()["user"] == "rita"

    # An admin key may revoke itself; it is refused from the next request on.
    ops_id = next(k["id"] for k in live if k["name"] == "ops")
    assert client.post(f"/api/v1/admin/keys/{ops_id}/revoke", headers=admin).status_code == 200
    assert error(client.get("/api/v1/admin/keys", headers=admin)) == (401, "key_revoked")


def test_every_change_is_in_the_account_trail(app, client, admin, make_queue):
    make_queue("support")
    user = client.post("/api/v1/admin/users", headers=admin, json={
        "name": "rita", "password": "long enough", "role": "reviewer"}).get_json()
    client.put(f"/api/v1/admin/queues/support/members/{user['id']}", headers=admin, json={})
    client.post(f"/api/v1/admin/users/{user['id']}/deactivate", headers=admin)
    key = client.post("/api/v1/admin/keys", headers=admin,
                      json={"name": "svc", "scope": "submit"}).get_json()
    client.post(f"/api/v1/admin/keys/{key['id']}/revoke", headers=admin)
    page = client.get("/api/v1/admin/account-events?limit=3", headers=admin).get_json()
    assert [e["action"] for e in page["events"]] == ["key.revoked", "key.created",
                                                     "user.deactivated"]
    assert {e["actor"] for e in page["events"]} == {"api:ops"}
    assert all(e["at"] for e in page["events"])
    rest = client.get(f"/api/v1/admin/account-events?before={page['next']}",
                      headers=admin).get_json()
    assert [e["action"] for e in rest["events"]] == ["membership.set", "user.created"]
    assert rest["next"] is None
    assert error(client.get("/api/v1/admin/account-events?limit=0", headers=admin)) == \
        (400, "bad_limit")
    assert error(client.get("/api/v1/admin/account-events?before=x", headers=admin)) == \
        (400, "bad_before")
    assert count(app, AccountEvent) == 5
