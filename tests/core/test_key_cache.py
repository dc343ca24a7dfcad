"""API keys cached per process (review/core/key_cache.py): no database round trip for a
key seen a moment ago, yet a revoked or rotated key, or a deactivated user, is refused on
the very next request in every process; with Redis unreachable the TTL bounds the delay.

Two app instances on one database and one Redis stand for two processes (each has its own
cache and its own subscriber thread). A redis-server started here is stopped and started
again to show the subscriber survives the outage."""

from __future__ import annotations

import dataclasses
import shutil
import time

import pytest
from sqlalchemy import event, select

from review.core.key_cache import key_cache
from review.core.models import ApiKey
from tests.chaos.harness import Proc, free_port, wait_port
from tests.conftest import make_config

FEED = "/api/v1/decisions?limit=1"


def _twin(app_config, **overrides):
    """A second app instance on the same database and Redis (another process's view)."""
    from review.factory import create_app

    return create_app(dataclasses.replace(app_config, **overrides))


def _bearer(raw: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw}"}


def _key_selects(app) -> list[str]:
    seen: list[str] = []

    @event.listens_for(app.extensions["review.engine"], "before_cursor_execute")
    def _record(_conn, _cursor, statement, *_args):
        if "FROM api_keys" in statement and "key_hash =" in statement:
            seen.append(statement)

    return seen


def _subscribed(*apps) -> None:
    for one in apps:
        key_cache(one).get("warm-up")  # starts the subscriber
        assert key_cache(one).connected.wait(10), "subscriber never connected"


@pytest.fixture
def twins(app, app_config):
    other = _twin(app_config)
    with app.app_context(), other.app_context():
        _subscribed(app, other)
    yield app, other
    key_cache(other).stop()


def test_a_known_key_costs_no_select_and_last_used_is_written_once_a_minute(app, make_key,
                                                                           db):
    raw = make_key("feed-reader", "submit")
    with app.app_context():
        _subscribed(app)  # its first subscription starts the cache afresh
    client, selects = app.test_client(), _key_selects(app)
    assert client.get(FEED, headers=_bearer(raw)).status_code == 200
    assert len(selects) == 1
    first = db.scalar(select(ApiKey.last_used_at).where(ApiKey.name == "feed-reader"))
    assert first is not None
    for _ in range(3):
        assert client.get(FEED, headers=_bearer(raw)).status_code == 200
    assert len(selects) == 1, selects
    db.expire_all()
    assert db.scalar(select(ApiKey.last_used_at).where(ApiKey.name == "feed-reader")) == first


def test_revoke_in_one_process_is_refused_at_once_in_the_other(twins, make_key, db):
    from review.core.accounts import revoke_key, rotate_key

    one, other = twins
    raws = {name: make_key(name, "submit") for name in ("revoked", "rotated")}
    for raw in raws.values():  # the other process has them cached
        assert other.test_client().get(FEED, headers=_bearer(raw)).status_code == 200
    ids = {k.name: k.id for k in db.scalars(select(ApiKey))}
    with one.app_context():
        from review.core.db import get_session

        revoke_key(get_session(), "test", ids["revoked"])
        _new, new_raw = rotate_key(get_session(), "test", ids["rotated"])
    for name in ("revoked", "rotated"):
        resp = other.test_client().get(FEED, headers=_bearer(raws[name]))
        assert (resp.status_code, resp.get_json()["error"]["code"]) == (401, "key_revoked")
    assert other.test_client().get(FEED, headers=_bearer(new_raw)).status_code == 200


def test_deactivating_a_user_refuses_their_key_at_once_in_the_other(twins, make_key,
                                                                    make_user, app):
    from review.core.accounts import set_user_active

    one, other = twins
    rita = make_user("rita", "reviewer")
    raw = make_key("rita-key", "submit", rita)
    assert other.test_client().get(FEED, headers=_bearer(raw)).status_code == 200
    with one.app_context():
        from review.core.db import get_session

        set_user_active(get_session(), "test", rita.id, False)
    resp = other.test_client().get(FEED, headers=_bearer(raw))
    assert (resp.status_code, resp.get_json()["error"]["code"]) == (401, "user_inactive")
    with one.app_context():
        from review.core.db import get_session

        set_user_active(get_session(), "test", rita.id, True)
    assert other.test_client().get(FEED, headers=_bearer(raw)).status_code == 200


def test_with_redis_unreachable_the_ttl_bounds_staleness(app_config, app, make_key, db):
    from review.core.accounts import revoke_key

    dead = f"redis://127.0.0.1:{free_port()}/0"
    one = _twin(app_config, REDIS_URL=dead, API_KEY_CACHE_SECONDS=1.0)
    other = _twin(app_config, REDIS_URL=dead, API_KEY_CACHE_SECONDS=1.0)
    try:
        raw = make_key("stale", "submit")
        assert other.test_client().get(FEED, headers=_bearer(raw)).status_code == 200
        key_id = db.scalar(select(ApiKey.id).where(ApiKey.name == "stale"))
        with one.app_context():
            from review.core.db import get_session

            revoke_key(get_session(), "test", key_id)  # the message is lost
        # One process refuses at once (its own change); the other trusts its copy for
        # at most API_KEY_CACHE_SECONDS.
        assert one.test_client().get(FEED, headers=_bearer(raw)).status_code == 401
        deadline = time.monotonic() + 1.0
        time.sleep(1.05)
        resp = other.test_client().get(FEED, headers=_bearer(raw))
        assert time.monotonic() > deadline and resp.status_code == 401
    finally:
        key_cache(one).stop()
        key_cache(other).stop()


@pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server")
def test_the_subscriber_survives_a_redis_restart(app_config, app, make_key, db, tmp_path):
    from review.core.accounts import revoke_key

    port = free_port()
    argv = [shutil.which("redis-server"), "--port", str(port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no"]
    redis = Proc("redis", argv, {}, tmp_path)
    redis.start()
    wait_port(port)
    cfg = dataclasses.replace(make_config(app_config.DATABASE_URL, "", tmp_path),
                              REDIS_URL=f"redis://127.0.0.1:{port}/0")
    one, other = _twin(cfg), _twin(cfg)
    try:
        with one.app_context(), other.app_context():
            _subscribed(one, other)
        redis.kill9()
        deadline = time.monotonic() + 10
        while key_cache(other).connected.is_set() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not key_cache(other).connected.is_set()
        redis = Proc("redis", argv, {}, tmp_path)
        redis.start()
        wait_port(port)
        with one.app_context(), other.app_context():
            _subscribed(one, other)
        raw = make_key("after-restart", "submit")
        assert other.test_client().get(FEED, headers=_bearer(raw)).status_code == 200
        key_id = db.scalar(select(ApiKey.id).where(ApiKey.name == "after-restart"))
        with one.app_context():
            from review.core.db import get_session

            revoke_key(get_session(), "test", key_id)
        assert other.test_client().get(FEED, headers=_bearer(raw)).status_code == 401
    finally:
        key_cache(one).stop()
        key_cache(other).stop()
        redis.kill9()
