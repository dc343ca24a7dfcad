"""The login throttle: it fails closed without Redis, one address cannot lock a
user out (behind a reverse proxy too, with TRUSTED_PROXIES), and a name that
does not exist costs the same password-hashing work as one that does.

Each test builds its own app (a fresh Redis prefix, so fresh counters); the
outage test runs its own redis-server on a free port and stops it.
"""

from __future__ import annotations

import time
from pathlib import Path
from statistics import median

import pytest
from flask import Flask

from review.core.settings import ConfigError, Settings
from tests.chaos.harness import PrivateRedis
from tests.conftest import make_config
from tests.web.forms import PASSWORD


def build(app: Flask, redis_url: str | None = None, **overrides: object) -> Flask:
    from review.factory import create_app

    cfg = app.config
    config = make_config(cfg["DATABASE_URL"], redis_url or cfg["REDIS_URL"],
                         cfg["INSTANCE_DIR"], WTF_CSRF_ENABLED=False)
    for name, value in overrides.items():
        setattr(config, name, value)
    return create_app(config)


@pytest.fixture
def apps(app):
    made: list[Flask] = []

    def _build(**overrides: object) -> Flask:
        made.append(build(app, **overrides))
        return made[-1]

    yield _build
    for other in made:
        other.extensions["review.engine"].dispose()


def attempt(client, name: str, password: str, forwarded_for: str | None = None):
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return client.post("/login", data={"name": name, "password": password}, headers=headers)


def test_redis_down_refuses_every_login_with_a_clear_503(app, make_user, tmp_path: Path):
    make_user("rita")
    redis = PrivateRedis(tmp_path)
    redis.up()
    other = build(app, redis_url=redis.url)
    try:
        client = other.test_client()
        assert attempt(client, "rita", "wrong pass").status_code == 401
        redis.down()
        answers = [attempt(client, "rita", "wrong pass") for _ in range(25)]
        assert [r.status_code for r in answers] == [503] * 25
        assert all(1 <= int(r.headers["Retry-After"]) <= 300 for r in answers)
        assert "Sign-in is paused" in answers[-1].get_data(as_text=True)
        # Nothing gets through, right password or not, known name or not.
        assert attempt(client, "rita", PASSWORD).status_code == 503
        assert attempt(client, "nobody", "wrong pass").status_code == 503
        redis.up()
        assert attempt(client, "rita", PASSWORD).status_code == 302
    finally:
        redis.down()
        other.extensions["review.engine"].dispose()


def test_one_address_behind_the_proxy_cannot_lock_a_user_out(apps, make_user):
    make_user("rita")
    client = apps(TRUSTED_PROXIES=1, LOGIN_RATE_LIMIT=3).test_client()
    # The proxy appends the peer it saw; what the client itself sent is ignored.
    answers = [attempt(client, "rita", "wrong pass", f"10.9.9.{n}, 203.0.113.7").status_code
               for n in range(25)]
    # Fixed windows: a boundary may reset the count once.
    assert answers.count(401) <= 6 and answers.count(429) >= 19, answers
    assert answers[-1] == 429
    # rita, from her own address, is not locked out.
    assert attempt(client, "rita", PASSWORD, "198.51.100.4").status_code == 302


def test_without_trusted_proxies_forwarded_for_is_ignored(apps, make_user):
    make_user("rita")
    client = apps(LOGIN_RATE_LIMIT=2).test_client()
    answers = [attempt(client, "rita", "wrong pass", f"203.0.113.{n}").status_code
               for n in range(5)]
    assert answers.count(429) >= 1, answers  # one address (the peer) for every header


def test_one_address_guessing_many_names_is_limited(apps, make_user):
    make_user("rita")
    client = apps(TRUSTED_PROXIES=1, LOGIN_ADDRESS_RATE_LIMIT=4).test_client()
    answers = [attempt(client, f"guess-{n}", "wrong pass", "203.0.113.7").status_code
               for n in range(10)]
    assert answers.count(401) <= 8 and answers[-1] == 429, answers
    refused = attempt(client, "rita", PASSWORD, "203.0.113.7")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert attempt(client, "rita", PASSWORD, "198.51.100.4").status_code == 302


def test_successful_logins_do_not_use_up_the_address_limit(apps, make_user):
    """Many people behind one NAT sign in every morning."""
    for name in ("ana", "bob", "cy", "di"):
        make_user(name)
    client = apps(TRUSTED_PROXIES=1, LOGIN_ADDRESS_RATE_LIMIT=2).test_client()
    for name in ("ana", "bob", "cy", "di"):
        assert attempt(client, name, PASSWORD, "192.0.2.1").status_code == 302, name


def test_the_account_ceiling_holds_against_many_addresses(apps, make_user):
    make_user("rita")
    client = apps(TRUSTED_PROXIES=1, LOGIN_RATE_LIMIT=2, LOGIN_ACCOUNT_RATE_LIMIT=5).test_client()
    answers = [attempt(client, "rita", "wrong pass", f"203.0.113.{n}").status_code
               for n in range(1, 16)]
    assert 5 <= answers.count(401) <= 10 and answers[-1] == 429, answers
    resp = attempt(client, "rita", PASSWORD, "198.51.100.4")
    assert resp.status_code == 429 and int(resp.headers["Retry-After"]) >= 1


def test_unknown_names_cost_the_same_work_as_known_ones(apps, make_user):
    make_user("rita")
    client = apps(LOGIN_RATE_LIMIT=1000).test_client()

    def took(name: str) -> float:
        started = time.perf_counter()
        assert attempt(client, name, "wrong pass").status_code == 401
        return time.perf_counter() - started

    took("rita"), took("nobody-warm")
    known, unknown = [], []
    for n in range(6):  # interleaved, so load on the machine hits both alike
        known.append(took("rita"))
        unknown.append(took(f"nobody-{n}"))
    ratio = median(known) / median(unknown)
    assert 0.5 < ratio < 2, (known, unknown)


@pytest.mark.parametrize("overrides, message", [
    ({"LOGIN_RATE_LIMIT": 10, "LOGIN_ACCOUNT_RATE_LIMIT": 10}, "LOGIN_ACCOUNT_RATE_LIMIT"),
    ({"TRUSTED_PROXIES": -1}, "TRUSTED_PROXIES"),
])
def test_unsafe_throttle_settings_refuse_to_start(tmp_path, overrides, message):
    with pytest.raises(ConfigError, match=message):
        Settings(INSTANCE_DIR=str(tmp_path), **overrides).finalise()
