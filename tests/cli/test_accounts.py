"""`review users list|deactivate|activate|set-password` and `review keys list|revoke|
rotate`: each change takes effect on the next request (a real API key, a real signed-in
session) and is audited as `cli:<OS user>`."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from review.cli import main
from review.core.accounts import verify_password
from review.core.models import AccountEvent, ApiKey, User
from tests.web.forms import login


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()

    def invoke(*args: str, input: str | None = None):  # noqa: A002 - click's name
        return runner.invoke(main, args=list(args), input=input, catch_exceptions=False)

    return invoke


def inspect(app, fn):
    """Run `fn(session)` in its own app context. (The `db` fixture's context would be
    shared by every test-client request, and with it Flask-Login's user cached in `g`.)"""
    from review.core.db import get_session

    with app.app_context():
        return fn(get_session())


def actions(app) -> list[tuple[str, str]]:
    return inspect(app, lambda s: [(e.actor, e.action) for e in s.scalars(
        select(AccountEvent).order_by(AccountEvent.id))])


def user(app, name: str) -> User:
    return inspect(app, lambda s: s.scalar(select(User).where(User.name == name)))


def test_users_list(cli, make_queue, make_user):
    make_queue("support")
    make_user("rita", queues=("support",))
    make_user("boss", "admin")
    out = cli("users", "list").output.splitlines()
    assert re.match(r"boss\s+admin\s+active\s+-$", out[0])
    assert re.match(r"rita\s+reviewer\s+active\s+support$", out[1])


def test_deactivate_takes_effect_on_the_next_request(app, cli, client, make_user,
                                                     make_key):
    rita = make_user("rita", "admin")
    make_user("boss", "admin")
    key = {"Authorization": f"Bearer {make_key('rita-key', 'review', rita)}"}
    browser = login(app, "rita")
    assert browser.get("/").status_code == 200
    assert client.get("/api/v1/openapi.json", headers=key).status_code == 200
    assert client.post("/api/v1/queues/nope/claim", headers=key).status_code == 404

    result = cli("users", "deactivate", "rita")
    assert result.exit_code == 0 and "rita is deactivated" in result.output
    assert browser.get("/").status_code == 302  # the open session has ended
    resp = client.post("/api/v1/queues/nope/claim", headers=key)
    assert (resp.status_code, resp.get_json()["error"]["code"]) == (401, "user_inactive")
    assert "already" in cli("users", "deactivate", "rita").output

    assert "rita is active" in cli("users", "activate", "rita").output
    assert browser.get("/").status_code == 302  # old cookies stay dead
    assert login(app, "rita").get("/").status_code == 200
    assert client.post("/api/v1/queues/nope/claim", headers=key).status_code == 404
    assert [a for _, a in actions(app)] == ["user.deactivated", "user.activated"]
    assert all(actor.startswith("cli") for actor, _ in actions(app))


def test_the_last_admin_and_unknown_users_are_refused(app, cli, make_user):
    make_user("boss", "admin")
    result = cli("users", "deactivate", "boss")
    assert result.exit_code == 1 and "last active admin" in result.output
    result = cli("users", "deactivate", "nobody")
    assert result.exit_code == 1 and "No user 'nobody'" in result.output
    assert user(app, "boss").active and actions(app) == []


def test_set_password(app, cli, make_user):
    make_user("rita")
    browser = login(app, "rita")
    result = cli("users", "set-password", "rita", input="a new password\na new password\n")
    assert result.exit_code == 0, result.output
    assert verify_password(user(app, "rita"), "a new password")
    assert browser.get("/").status_code == 302  # every session ended
    result = cli("users", "set-password", "rita", "--password", "short")
    assert result.exit_code == 1 and "8 to 200 characters" in result.output
    result = cli("users", "set-password", "rita", "--generate")
    generated = re.search(r"new password (\S+)", result.output).group(1)
    assert verify_password(user(app, "rita"), generated)
    assert [a for _, a in actions(app)] == ["user.password_set"] * 2


def test_keys_list_revoke_rotate(app, cli, client, make_user, make_queue):
    make_queue("support")
    make_user("rita")
    created = cli("keys", "create", "svc").output
    raw = re.search(r"\b(rv_\S+)", created).group(1)
    secret = re.search(r"\b(whsec_\S+)", created).group(1)
    headers = {"Authorization": f"Bearer {raw}"}
    body = {"queue": "support", "output": "x", "confidence": 0.99}
    assert client.post("/api/v1/items", headers=headers, json=body).status_code == 201
    key_id = inspect(app, lambda s: s.scalar(select(ApiKey.id).where(ApiKey.name == "svc")))

    listed = cli("keys", "list").output
    assert re.search(rf"^\s*{key_id} svc\s+submit\s+{raw[:10]}… user=- .* live$", listed,
                     re.M)
    assert raw[10:] not in listed

    rotated = cli("keys", "rotate", str(key_id)).output
    new_raw = re.search(r"\b(rv_\S+)", rotated).group(1)
    resp = client.post("/api/v1/items", headers=headers, json=body)
    assert (resp.status_code, resp.get_json()["error"]["code"]) == (401, "key_revoked")
    new_headers = {"Authorization": f"Bearer {new_raw}"}
    assert client.post("/api/v1/items", headers=new_headers, json=body).status_code == 201
    new = inspect(app, lambda s: s.scalar(
        select(ApiKey).where(ApiKey.name == "svc", ApiKey.revoked_at.is_(None))))
    assert new.webhook_secret == secret  # receivers keep verifying

    assert "revoked" in cli("keys", "list", "--all").output
    assert str(key_id) not in cli("keys", "list").output.split()[0:1]
    assert cli("keys", "revoke", str(new.id)).exit_code == 0
    resp = client.post("/api/v1/items", headers=new_headers, json=body)
    assert (resp.status_code, resp.get_json()["error"]["code"]) == (401, "key_revoked")
    again = cli("keys", "revoke", str(new.id))
    assert again.exit_code == 1 and "revoked already" in again.output
    assert cli("keys", "rotate", "999999").exit_code == 1
    assert [a for _, a in actions(app)] == ["key.created", "key.rotated", "key.revoked"]
