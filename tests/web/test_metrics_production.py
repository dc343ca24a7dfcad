"""/metrics in production needs METRICS_TOKEN (refused, as JSON, without one);
/healthz's 503 tells the balancer when to ask again."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.conftest import make_config


@pytest.fixture
def build(app):
    from review.factory import create_app

    made: list[Flask] = []

    def _build(database_url: str | None = None, **overrides: object) -> Flask:
        cfg = app.config
        # LOG_FORMAT: keep the test run's log handler as it is (production means json).
        made.append(create_app(make_config(database_url or cfg["DATABASE_URL"],
                                           cfg["REDIS_URL"], cfg["INSTANCE_DIR"],
                                           LOG_FORMAT="text", **overrides)))
        return made[-1]

    yield _build
    for other in made:
        other.extensions["review.engine"].dispose()


def test_production_without_a_token_refuses_metrics(build):
    resp = build(PRODUCTION=True).test_client().get("/metrics")
    assert resp.status_code == 403
    error = resp.get_json()["error"]
    assert error["code"] == "metrics_token_required"
    assert "METRICS_TOKEN" in error["message"]
    assert b"review_" not in resp.data


def test_production_with_a_token_serves_metrics_to_its_holder(build):
    client = build(PRODUCTION=True, METRICS_TOKEN="s3cret-token").test_client()
    assert client.get("/metrics").status_code == 401
    resp = client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"})
    assert resp.status_code == 200 and b"review_backlog_items" in resp.data


def test_development_without_a_token_stays_open(build):
    assert build().test_client().get("/metrics").status_code == 200


def test_healthz_503_says_when_to_retry(build):
    other = build(database_url="postgresql+psycopg://postgres@127.0.0.1:1/none")
    resp = other.test_client().get("/healthz")
    assert resp.status_code == 503
    assert 1 <= int(resp.headers["Retry-After"]) <= 60
    assert resp.headers["Cache-Control"] == "no-store"


def test_healthy_healthz_has_no_retry_after(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200 and "Retry-After" not in resp.headers
