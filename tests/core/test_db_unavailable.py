"""Database down: every request answers 503 with Retry-After, never a 500,
and nothing half-written survives; after recovery requests work again.

Three real ways the database goes away: a PostgreSQL URL nothing listens on,
a throwaway PostgreSQL database that refuses connections for a while
(`ALTER DATABASE ... ALLOW_CONNECTIONS false` + terminating its backends; the
shared server is never restarted), and a SQLite file locked by another writer.
"""

from __future__ import annotations

import sqlite3
import threading

import pytest
from sqlalchemy import create_engine, event, func, select, text

from review.core.migrate import upgrade
from review.core.models import Item, ItemEvent
from tests.conftest import PG_URL, _create_pg_database, _drop_pg_database, free_port, make_config

ITEM = {"queue": "support", "output": "Your order ships Monday.", "confidence": 0.3}


def assert_unavailable(resp) -> None:
    assert resp.status_code == 503, resp.get_data(as_text=True)
    assert int(resp.headers["Retry-After"]) > 0
    assert resp.get_json()["error"]["code"] == "unavailable"


def seed(app) -> str:
    """A queue and a submit key in the app's database; returns the raw key."""
    from review.core.accounts import create_api_key, create_user
    from review.core.db import get_session
    from review.core.queues import apply_policy, validate_policy

    with app.app_context():
        session = get_session()
        apply_policy(session, "support", validate_policy("support", {"audit_rate": 0.0}),
                     actor="test")
        create_user(session, "rita", "correct horse", "reviewer")
        _key, raw = create_api_key(session, "upstream", "submit")
        session.commit()
    return raw


def test_postgres_nobody_listens_gives_503_everywhere(redis_url, tmp_path):
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/review"
    from app import create_app

    down = create_app(make_config(url, redis_url, tmp_path, WTF_CSRF_ENABLED=False))
    client = down.test_client()
    auth = {"Authorization": "Bearer rv_whatever"}
    assert_unavailable(client.post("/api/v1/items", json=ITEM, headers=auth))
    assert_unavailable(client.post("/api/v1/items/batch", json={"items": [ITEM]}, headers=auth))
    assert_unavailable(client.get("/api/v1/items/0123456789ab", headers=auth))
    assert_unavailable(client.get("/api/v1/decisions", headers=auth))
    assert_unavailable(client.post("/login", data={"name": "rita", "password": "x" * 12}))
    # The login page itself needs no database and still renders.
    assert client.get("/login").status_code == 200


def _sqlite_app(tmp_path, redis_url, busy_ms: int):
    """A fresh SQLite app whose writers wait `busy_ms` for a lock instead of 30 s."""
    from app import create_app

    url = f"sqlite:///{tmp_path / 'locked.db'}"
    upgrade(url)
    app = create_app(make_config(url, redis_url, tmp_path, WTF_CSRF_ENABLED=False))
    engine = app.extensions["review.engine"]

    @event.listens_for(engine, "connect")
    def _short_busy_timeout(dbapi_conn, _record):  # runs after the app's own pragmas
        dbapi_conn.execute(f"PRAGMA busy_timeout={busy_ms}")

    return app, url


def test_sqlite_locked_gives_503_and_writes_nothing(tmp_path, redis_url):
    locked_app, url = _sqlite_app(tmp_path, redis_url, busy_ms=200)
    raw = seed(locked_app)
    client = locked_app.test_client()
    auth = {"Authorization": f"Bearer {raw}"}
    assert client.post("/api/v1/items", json={**ITEM, "external_id": "before"},
                       headers=auth).status_code == 201

    # Another process-level writer holds the write lock.
    holder = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        resp = client.post("/api/v1/items", json={**ITEM, "external_id": "during"},
                           headers=auth)
        assert_unavailable(resp)
        assert "nothing was stored" in resp.get_json()["error"]["message"]
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    again = client.post("/api/v1/items", json={**ITEM, "external_id": "during"}, headers=auth)
    assert again.status_code == 201
    engine = create_engine(url)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Item)) == 2
        # Every stored item has its whole ingest trail, no orphan events.
        assert conn.scalar(select(func.count()).select_from(ItemEvent)
                           .where(ItemEvent.kind == "ingested")) == 2
    engine.dispose()


@pytest.fixture
def throwaway_pg():
    """A private PostgreSQL database (never the shared ones) that can be cut off."""
    if not PG_URL:
        pytest.skip("needs TEST_DATABASE_URL (PostgreSQL)")
    url, name = _create_pg_database(PG_URL)
    upgrade(url)
    admin = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1),
                          isolation_level="AUTOCOMMIT")

    def cut_off(on: bool) -> None:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(not on).lower()}'))
            if on:
                conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                  "WHERE datname = :name AND pid <> pg_backend_pid()"),
                             {"name": name})

    yield url, cut_off
    cut_off(False)
    admin.dispose()
    _drop_pg_database(PG_URL, name)


def test_postgres_cut_off_mid_load_loses_nothing(throwaway_pg, redis_url, tmp_path):
    url, cut_off = throwaway_pg
    from app import create_app

    pg_app = create_app(make_config(url, redis_url, tmp_path, WTF_CSRF_ENABLED=False))
    raw = seed(pg_app)
    auth = {"Authorization": f"Bearer {raw}"}
    client = pg_app.test_client()
    first = client.post("/api/v1/items", json={**ITEM, "external_id": "first"}, headers=auth)
    assert first.status_code == 201
    item_id = first.get_json()["id"]

    answers: dict[str, int] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def submitter(n: int) -> None:
        c = pg_app.test_client()
        i = 0
        while not stop.is_set():
            ext = f"t{n}-{i}"
            status = c.post("/api/v1/items", json={**ITEM, "external_id": ext},
                            headers=auth).status_code
            assert status in (201, 503), status
            with lock:
                answers[ext] = status
            i += 1

    threads = [threading.Thread(target=submitter, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    try:
        _wait_for(lambda: len(answers) >= 10)
        cut_off(True)
        _wait_for(lambda: sum(s == 503 for s in answers.values()) >= 5)
        # While it is down: ingest, poll and login all answer 503 with Retry-After.
        assert_unavailable(client.post("/api/v1/items", json=ITEM, headers=auth))
        assert_unavailable(client.get(f"/api/v1/items/{item_id}", headers=auth))
        assert_unavailable(client.post("/login", data={"name": "rita",
                                                       "password": "correct horse"}))
        cut_off(False)
        _wait_for(lambda: list(answers.values())[-1] == 201)
    finally:
        stop.set()
        for t in threads:
            t.join()

    # After recovery: poll and login work, every 201 exists, and every 503
    # retried with its external_id lands exactly once (201, or 200 if the
    # commit had reached the server before the connection died).
    assert client.get(f"/api/v1/items/{item_id}", headers=auth).status_code == 200
    login = client.post("/login", data={"name": "rita", "password": "correct horse"})
    assert login.status_code == 302
    for ext, status in answers.items():
        if status == 503:
            retry = client.post("/api/v1/items", json={**ITEM, "external_id": ext},
                                headers=auth)
            assert retry.status_code in (200, 201)
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        stored = set(conn.scalars(select(Item.external_id)))
        assert stored == set(answers) | {"first"}
        # Nothing half-written: every item has exactly its ingest and route events.
        for kind in ("ingested", "routed"):
            assert conn.scalar(select(func.count()).select_from(ItemEvent)
                               .where(ItemEvent.kind == kind)) == len(stored)
    engine.dispose()
    pg_app.extensions["review.engine"].dispose()


def _wait_for(predicate, timeout: float = 60) -> None:
    """Wait until `predicate()` holds (a deadline, not a timing assertion)."""
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached before the deadline")
        time.sleep(0.05)


def test_connection_killed_after_the_work_does_not_turn_the_answer_into_an_error(
        throwaway_pg, redis_url, tmp_path):
    """The request's transaction is open when the database cuts it off: closing
    the session at teardown must not raise (under gunicorn that was a 500
    replacing a committed answer)."""
    url, cut_off = throwaway_pg
    from app import create_app
    from review.core.db import get_session

    pg_app = create_app(make_config(url, redis_url, tmp_path))
    try:
        with pg_app.app_context():
            assert get_session().execute(text("SELECT 1")).scalar() == 1  # opens a transaction
            cut_off(True)
        # Leaving the context closed the session without raising; once the
        # database is back the pool hands out a fresh connection.
        cut_off(False)
        with pg_app.app_context():
            assert get_session().execute(text("SELECT 1")).scalar() == 1
    finally:
        cut_off(False)
        pg_app.extensions["review.engine"].dispose()


def test_pooled_connections_the_server_closed_are_replaced_not_failed(throwaway_pg, redis_url,
                                                                     tmp_path):
    """Every pooled connection terminated while idle (a restart, a failover): the next
    requests get fresh ones and succeed, without a ping round trip per request."""
    url, cut_off = throwaway_pg
    from app import create_app

    pg_app = create_app(make_config(url, redis_url, tmp_path, WTF_CSRF_ENABLED=False))
    auth = {"Authorization": f"Bearer {seed(pg_app)}"}
    clients = [pg_app.test_client() for _ in range(4)]
    item_id = clients[0].post("/api/v1/items", json=ITEM, headers=auth).get_json()["id"]
    pool = pg_app.extensions["review.engine"].pool
    assert pool.checkedin() >= 1
    cut_off(True)
    cut_off(False)
    for client in clients:
        assert client.get(f"/api/v1/items/{item_id}", headers=auth).status_code == 200
        assert client.post("/api/v1/items", json=ITEM, headers=auth).status_code == 201
