"""Admin pages for users, memberships and keys, and a user's own password change, over
the Flask test client with CSRF on: each form works with its token and refuses without
it, each change is audited, and a deactivation or a password change ends the open
sessions it should on their very next request."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from review.core.accounts import verify_password
from review.core.models import AccountEvent, ApiKey, QueueMember, User
from tests.web.forms import PASSWORD, csrf, login


def inspect(app, fn):
    """Run `fn(session)` in its own app context (not the `db` fixture's, which the test
    client's requests would share, with Flask-Login's cached user)."""
    from review.core.db import get_session

    with app.app_context():
        return fn(get_session())


def user(app, name: str) -> User:
    return inspect(app, lambda s: s.scalar(select(User).where(User.name == name)))


def actions(app) -> list[tuple[str, str]]:
    return inspect(app, lambda s: [(e.actor, e.action) for e in s.scalars(
        select(AccountEvent).order_by(AccountEvent.id))])


def post(browser, page: str, url: str, data: dict | None = None):
    """Post a form of `page` with that page's CSRF token."""
    token = csrf(browser.get(page).get_data(as_text=True))
    return browser.post(url, data={"csrf_token": token, **(data or {})})


def sign_in(app, name: str, password: str) -> int:
    browser = app.test_client()
    token = csrf(browser.get("/login").get_data(as_text=True))
    return browser.post("/login", data={"name": name, "password": password,
                                        "csrf_token": token}).status_code


@pytest.fixture
def boss(app, make_user, make_queue):
    make_queue("support")
    make_user("boss", "admin")
    make_user("rita", "reviewer")
    return login(app, "boss")


def test_users_page_create_role_password_deactivate(app, boss):
    page = boss.get("/admin/users").get_data(as_text=True)
    assert 'data-user="rita"' in page and 'id="nav-admin"' in page
    resp = post(boss, "/admin/users", "/admin/users",
                {"name": "sam", "password": "long enough", "role": "supervisor"})
    assert resp.status_code == 302
    assert "Created supervisor sam." in boss.get("/admin/users").get_data(as_text=True)
    assert user(app, "sam").role == "supervisor"

    rita_id = user(app, "rita").id
    rita = login(app, "rita")
    post(boss, "/admin/users", f"/admin/users/{rita_id}/role", {"role": "supervisor"})
    assert user(app, "rita").role == "supervisor"
    assert rita.get("/").status_code == 200  # a role change keeps the session

    post(boss, "/admin/users", f"/admin/users/{rita_id}/deactivate")
    assert rita.get("/").status_code == 302  # her open session ended at once
    assert not user(app, "rita").active
    assert sign_in(app, "rita", PASSWORD) == 401
    post(boss, "/admin/users", f"/admin/users/{rita_id}/activate")
    assert rita.get("/").status_code == 302 and sign_in(app, "rita", PASSWORD) == 302

    rita = login(app, "rita")
    post(boss, "/admin/users", f"/admin/users/{rita_id}/password",
         {"password": "a new password"})
    assert rita.get("/").status_code == 302
    assert verify_password(user(app, "rita"), "a new password")

    assert [a for _, a in actions(app)] == [
        "user.created", "user.role_changed", "user.deactivated", "user.activated",
        "user.password_set"]
    assert {actor for actor, _ in actions(app)} == {"boss"}
    page = boss.get("/admin/users").get_data(as_text=True)
    assert 'id="account-events"' in page and "user.password_set" in page


def test_refusals_are_flashed_and_change_nothing(app, boss):
    boss_id = user(app, "boss").id
    post(boss, "/admin/users", f"/admin/users/{boss_id}/deactivate")
    assert "Another admin must" in boss.get("/admin/users").get_data(as_text=True)
    for data, message in (({"name": "rita", "password": "long enough", "role": "reviewer"},
                           "exists already"),
                          ({"name": "bad name", "password": "long enough",
                            "role": "reviewer"}, "letters, digits"),
                          ({"name": "sam", "password": "short", "role": "reviewer"},
                           "between 8 and 200"),
                          ({"name": "sam", "password": "long enough", "role": "owner"},
                           "Not a valid choice")):
        assert post(boss, "/admin/users", "/admin/users", data).status_code == 302
        assert message in boss.get("/admin/users").get_data(as_text=True), data
    assert user(app, "sam") is None and user(app, "boss").active
    assert post(boss, "/admin/users", "/admin/users/999999/deactivate").status_code == 404
    assert actions(app) == []


def test_memberships_page(app, boss):
    rita_id = user(app, "rita").id
    post(boss, "/admin/members", "/admin/members",
         {"queue": "support", "user_id": str(rita_id), "tags": "de, legal"})
    page = boss.get("/admin/members").get_data(as_text=True)
    assert re.search(r'data-member="rita">.*?de, legal', page, re.S)
    tags = inspect(app, lambda s: s.get(QueueMember, (1, rita_id)) and
                   s.scalars(select(QueueMember.tags)).one())
    assert tags == ["de", "legal"]
    post(boss, "/admin/members", f"/admin/members/support/{rita_id}/remove")
    assert 'data-member="rita"' not in boss.get("/admin/members").get_data(as_text=True)
    post(boss, "/admin/members", "/admin/members",
         {"queue": "nope", "user_id": str(rita_id), "tags": ""})
    assert post(boss, "/admin/members", "/admin/members/support/999999/remove") \
        .status_code == 404
    assert [a for _, a in actions(app)] == ["membership.set", "membership.removed"]


def test_keys_page_shows_a_new_key_once(app, boss, client, make_queue):
    resp = post(boss, "/admin/keys", "/admin/keys", {"name": "svc", "scope": "submit"})
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    html = resp.get_data(as_text=True)
    raw = re.search(r'id="raw-key">(rv_[^<]+)<', html).group(1)
    listing = boss.get("/admin/keys").get_data(as_text=True)
    assert raw[:10] in listing and raw[10:] not in listing  # only the prefix, ever
    body = {"queue": "support", "output": "x", "confidence": 0.99}
    headers = {"Authorization": f"Bearer {raw}"}
    assert client.post("/api/v1/items", headers=headers, json=body).status_code == 201

    key_id = inspect(app, lambda s: s.scalar(select(ApiKey.id).where(ApiKey.name == "svc")))
    resp = post(boss, "/admin/keys", "/admin/keys/rotate", {"key_id": str(key_id)})
    new_raw = re.search(r'id="raw-key">(rv_[^<]+)<', resp.get_data(as_text=True)).group(1)
    assert client.post("/api/v1/items", headers=headers, json=body).status_code == 401
    new_headers = {"Authorization": f"Bearer {new_raw}"}
    assert client.post("/api/v1/items", headers=new_headers, json=body).status_code == 201
    new_id = inspect(app, lambda s: s.scalar(select(ApiKey.id).where(
        ApiKey.name == "svc", ApiKey.revoked_at.is_(None))))
    post(boss, "/admin/keys", "/admin/keys/revoke", {"key_id": str(new_id)})
    resp = client.post("/api/v1/items", headers=new_headers, json=body)
    assert resp.get_json()["error"]["code"] == "key_revoked"
    assert post(boss, "/admin/keys", "/admin/keys/revoke", {"key_id": "999999"}) \
        .status_code == 404
    post(boss, "/admin/keys", "/admin/keys", {"name": "r", "scope": "review"})
    assert "acts as a user" in boss.get("/admin/keys").get_data(as_text=True)
    assert [a for _, a in actions(app)] == ["key.created", "key.rotated", "key.revoked"]


def test_every_admin_form_needs_its_csrf_token(app, boss):
    rita_id = user(app, "rita").id
    for url, data in (("/admin/users", {"name": "sam", "password": "long enough",
                                        "role": "admin"}),
                      (f"/admin/users/{rita_id}/deactivate", {}),
                      (f"/admin/users/{rita_id}/role", {"role": "admin"}),
                      (f"/admin/users/{rita_id}/password", {"password": "long enough"}),
                      ("/admin/members", {"queue": "support", "user_id": str(rita_id)}),
                      ("/admin/keys", {"name": "svc", "scope": "admin"}),
                      ("/account/password", {"current": PASSWORD, "new": "long enough",
                                             "confirm": "long enough"})):
        resp = boss.post(url, data=data)
        assert resp.status_code == 400 and "CSRF" in resp.get_data(as_text=True), url
    assert actions(app) == [] and user(app, "rita").role == "reviewer"


class TestOwnPassword:
    def test_change_keeps_this_session_and_ends_the_others(self, app, make_user):
        make_user("rita")
        here, elsewhere = login(app, "rita"), login(app, "rita")
        page = here.get("/account/password").get_data(as_text=True)
        assert 'id="password-form"' in page
        resp = post(here, "/account/password", "/account/password", {
            "current": PASSWORD, "new": "a new password", "confirm": "a new password"})
        assert resp.status_code == 302
        assert "Password changed" in here.get("/account/password").get_data(as_text=True)
        assert here.get("/").status_code == 200  # still signed in here
        assert elsewhere.get("/").status_code == 302  # every other session ended
        assert sign_in(app, "rita", PASSWORD) == 401
        assert sign_in(app, "rita", "a new password") == 302
        assert actions(app) == [("rita", "user.password_changed")]

    def test_wrong_current_password_or_mismatch_changes_nothing(self, app, make_user):
        make_user("rita")
        here = login(app, "rita")
        for data, message in (
                ({"current": "wrong guess", "new": "a new password",
                  "confirm": "a new password"}, "current password is wrong"),
                ({"current": PASSWORD, "new": "a new password", "confirm": "another one"},
                 "passwords differ"),
                ({"current": PASSWORD, "new": "short", "confirm": "short"}, "between 8 and 200")):
            resp = post(here, "/account/password", "/account/password", data)
            assert resp.status_code == 400 and message in resp.get_data(as_text=True), data
        assert verify_password(user(app, "rita"), PASSWORD)
        assert here.get("/").status_code == 200 and actions(app) == []
