"""GET /healthz: 200 while the database answers (Redis down is only reported), else 503."""

from __future__ import annotations

from tests.conftest import make_config


def test_healthy(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ok", "database": "ok", "redis": "ok"}
    assert resp.headers["Cache-Control"] == "no-store"


def test_redis_down_is_degraded_not_down(app, database_url, instance_dir):
    from review.factory import create_app

    other = create_app(make_config(database_url, "redis://127.0.0.1:1/0", instance_dir))
    resp = other.test_client().get("/healthz")
    other.extensions["review.engine"].dispose()
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "degraded", "database": "ok", "redis": "down"}


def test_database_down_is_503(app, redis_url, instance_dir):
    from review.factory import create_app

    other = create_app(make_config("postgresql+psycopg://postgres@127.0.0.1:1/none",
                                   redis_url, instance_dir))
    resp = other.test_client().get("/healthz")
    assert resp.status_code == 503
    assert resp.get_json()["database"] == "down" and resp.get_json()["status"] == "down"


def test_favicon_is_served(client):
    resp = client.get("/favicon.ico")
    assert resp.status_code == 301 and resp.location.endswith("/static/favicon.svg")
    icon = client.get("/static/favicon.svg")
    assert icon.status_code == 200 and icon.data.startswith(b"<svg")
