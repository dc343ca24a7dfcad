"""Backup and restore: `review db backup` then `review db restore` into a fresh
database finds every item, event and key again (SQLite's online backup API on
the embedded default, pg_dump/pg_restore on PostgreSQL)."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from sqlalchemy import create_engine, func, select

from review.cli import main
from review.core.migrate import upgrade
from review.core.models import ApiKey, Item, ItemEvent
from tests.conftest import PG_URL, _create_pg_database, _drop_pg_database, make_config


@pytest.fixture
def fresh_database(tmp_path):
    """Factory of empty databases of the suite's kind, dropped at teardown."""
    made: list[str] = []

    def _make(label: str) -> str:
        if PG_URL:
            url, name = _create_pg_database(PG_URL)
            made.append(name)
            return url
        return f"sqlite:///{tmp_path / f'{label}.db'}"

    yield _make
    for name in made:
        _drop_pg_database(PG_URL, name)


def build_app(url: str, redis_url: str, instance):
    from review.factory import create_app

    return create_app(make_config(url, redis_url, instance))


def seed(app) -> tuple[str, list[str]]:
    """A queue, a key and items on every route path; returns (raw key, item ids)."""
    from review.core.accounts import create_api_key
    from review.core.db import get_session
    from review.core.queues import apply_policy, validate_policy

    with app.app_context():
        session = get_session()
        apply_policy(session, "support", validate_policy("support", {"audit_rate": 0.0}),
                     actor="test")
        _key, raw = create_api_key(session, "upstream", "submit")
        session.commit()
    client = app.test_client()
    auth = {"Authorization": f"Bearer {raw}"}
    ids = [client.post("/api/v1/items", headers=auth, json={
        "queue": "support", "output": f"answer {i}", "confidence": c, "external_id": f"e{i}",
        "input": {"q": i}, "metadata": {"n": i}}).get_json()["id"]
        for i, c in enumerate([0.1, 0.5, 0.95] * 10)]
    return raw, ids


def counts(url: str) -> tuple[int, int, int]:
    engine = create_engine(url)
    with engine.connect() as conn:
        result = tuple(conn.scalar(select(func.count()).select_from(t))
                       for t in (Item, ItemEvent, ApiKey))
    engine.dispose()
    return result


def test_backup_then_restore_into_a_fresh_database_finds_every_item(
        fresh_database, redis_url, tmp_path):
    source_url = fresh_database("source")
    upgrade(source_url)
    source = build_app(source_url, redis_url, tmp_path)
    raw, ids = seed(source)
    backup_file = tmp_path / "backups" / "review.dump"
    result = source.test_cli_runner().invoke(main, args=["db", "backup", str(backup_file)])
    assert result.exit_code == 0, result.output
    assert backup_file.stat().st_size > 0

    target_url = fresh_database("target")  # empty: no schema at all
    target = build_app(target_url, redis_url, tmp_path)
    result = target.test_cli_runner().invoke(
        main, args=["db", "restore", str(backup_file), "--yes"])
    assert result.exit_code == 0, result.output
    assert counts(target_url) == counts(source_url)

    # The restored service answers with the old key and finds every item as it was.
    client, old = target.test_client(), source.test_client()
    auth = {"Authorization": f"Bearer {raw}"}
    for item_id in ids:
        restored = client.get(f"/api/v1/items/{item_id}?history=1", headers=auth)
        assert restored.status_code == 200
        original = old.get(f"/api/v1/items/{item_id}?history=1", headers=auth)
        assert restored.get_json() == original.get_json()
    # And keeps working: ingest continues after the restored rows.
    resp = client.post("/api/v1/items", headers=auth,
                       json={"queue": "support", "output": "new", "confidence": 0.3})
    assert resp.status_code == 201
    for app in (source, target):
        app.extensions["review.engine"].dispose()


def test_sqlite_backup_is_consistent_while_writes_go_on(redis_url, tmp_path):
    if PG_URL:
        pytest.skip("the online backup API is the SQLite path")
    url = f"sqlite:///{tmp_path / 'live.db'}"
    upgrade(url)
    app = build_app(url, redis_url, tmp_path)
    raw, _ids = seed(app)
    auth = {"Authorization": f"Bearer {raw}"}
    stop = threading.Event()

    def writer(n: int) -> None:
        client = app.test_client()
        i = 0
        while not stop.is_set():
            client.post("/api/v1/items", headers=auth, json={
                "queue": "support", "output": "x", "confidence": 0.3, "external_id": f"w{n}-{i}"})
            i += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    try:
        paths = []
        for k in range(3):
            path = tmp_path / f"live-{k}.db"
            result = app.test_cli_runner().invoke(main, args=["db", "backup", str(path)])
            assert result.exit_code == 0
            paths.append(path)
    finally:
        stop.set()
        for t in threads:
            t.join()
    for path in paths:
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        # A snapshot, never half a request: every item has its ingest and route events.
        items = conn.execute("SELECT count(*) FROM items").fetchone()[0]
        for kind in ("ingested", "routed"):
            assert conn.execute("SELECT count(*) FROM item_events WHERE kind = ?",
                                (kind,)).fetchone()[0] == items
        conn.close()
    app.extensions["review.engine"].dispose()


def test_restore_refuses_a_file_that_is_not_a_backup(redis_url, tmp_path):
    if PG_URL:
        pytest.skip("pg_restore reports its own errors; checked on SQLite")
    url = f"sqlite:///{tmp_path / 'x.db'}"
    upgrade(url)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    app = build_app(url, redis_url, tmp_path)
    result = app.test_cli_runner().invoke(main, args=["db", "restore", str(junk), "--yes"])
    assert result.exit_code != 0
    assert "not a SQLite database" in result.output
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    result = app.test_cli_runner().invoke(main, args=["db", "restore", str(other), "--yes"])
    assert "not a backup of this service" in result.output
