"""Backup and restore: `review db backup` then `review db restore` into a fresh
database finds every item, event and key again (SQLite's online backup API on
the embedded default, pg_dump/pg_restore on PostgreSQL)."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, create_engine, func, insert, select, text

from review.cli import main
from review.core.clock import utcnow
from review.core.migrate import alembic_config, upgrade
from review.core.models import ApiKey, Item, ItemEvent, LearnedThreshold, Queue
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


# --- An older release's backup (issue 13): taken at migration 0004, restored at head ---

OLD_REVISION = "0004"  # before learned_thresholds (0005), whose foreign key to queues
# made `pg_restore --clean` fail on a target at head


def table_rows(url: str, old_url: str, tables: list[str]) -> dict[str, list[tuple]]:
    """Every row of each table in the database at `url`, its columns as they are in the
    database at `old_url`, in a stable order."""
    rows = {}
    old, engine = MetaData(), create_engine(old_url)
    old.reflect(bind=engine, only=tables)
    engine.dispose()
    engine = create_engine(url)
    now = MetaData()
    now.reflect(bind=engine, only=tables)
    with engine.connect() as conn:
        for name in tables:
            columns = [now.tables[name].c[c.name] for c in old.tables[name].columns]
            rows[name] = sorted(tuple(map(repr, row)) for row in conn.execute(select(*columns)))
    engine.dispose()
    return rows


def backup_at_old_revision(fresh_database, redis_url, tmp_path
                           ) -> tuple[str, str, list[str], str]:
    """An OLD_REVISION database with rows in every table the seed fills, and its backup.

    The rows are made by today's code in a database at head, then copied column by
    column into a database upgraded only to OLD_REVISION: the release that wrote them
    could not have written others. Returns (old database URL, backup file, tables, the
    raw API key the items were submitted with).
    """
    seed_url = fresh_database("seed")
    upgrade(seed_url)
    seeded = build_app(seed_url, redis_url, tmp_path)
    raw, _ids = seed(seeded)
    seeded.extensions["review.engine"].dispose()

    old_url = fresh_database("old")
    upgrade(old_url, OLD_REVISION)
    source, target = create_engine(seed_url), create_engine(old_url)
    old = MetaData()
    old.reflect(bind=target)
    assert "learned_thresholds" not in old.tables
    new = MetaData()
    new.reflect(bind=source)
    copied: list[str] = []
    with source.connect() as src, target.begin() as dst:
        for table in old.sorted_tables:
            if table.name == "alembic_version":
                continue
            columns = [c.name for c in table.columns]
            rows = [dict(r._mapping) for r in src.execute(
                select(*(new.tables[table.name].c[c] for c in columns)))]
            if rows:
                dst.execute(insert(table), rows)
                copied.append(table.name)
            if dst.dialect.name == "postgresql" and "id" in columns and \
                    table.c.id.autoincrement is True and rows:
                # The ids were copied as they were: move the sequence past them.
                dst.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                                 f"(SELECT max(id) FROM {table.name}))"))
    source.dispose()
    target.dispose()
    assert {"queues", "items", "item_events", "api_keys"} <= set(copied)

    old_app = build_app(old_url, redis_url, tmp_path)
    backup_file = tmp_path / "backups" / "old.dump"
    result = old_app.test_cli_runner().invoke(main, args=["db", "backup", str(backup_file)])
    assert result.exit_code == 0, result.output
    old_app.extensions["review.engine"].dispose()
    return old_url, str(backup_file), copied + ["alembic_version"], raw


def test_an_older_backup_restores_into_a_database_at_head(fresh_database, redis_url, tmp_path):
    old_url, backup_file, tables, raw = backup_at_old_revision(
        fresh_database, redis_url, tmp_path)

    # The target runs today's release (the service unit upgrades before it starts) and
    # holds rows of its own, among them one in learned_thresholds, a table the backup
    # does not know and whose foreign key points at queues.
    target_url = fresh_database("head")
    upgrade(target_url)
    target = build_app(target_url, redis_url, tmp_path)
    _own_key, own_ids = seed(target)
    engine = create_engine(target_url)
    with engine.begin() as conn:
        queue_id = conn.scalar(select(Queue.id))
        conn.execute(insert(LearnedThreshold), [{
            "queue_id": queue_id, "model_version": "m1", "prompt_version": "p1",
            "evidence_count": 0, "errors": 0, "reason": "", "updated_at": utcnow()}])
    engine.dispose()

    result = target.test_cli_runner().invoke(main, args=["db", "restore", backup_file, "--yes"])
    assert result.exit_code == 0, result.output
    assert_restored_at_head(target, target_url, old_url, tables, raw)
    # Nothing of the target's own survives: the backup replaced the whole database.
    engine = create_engine(target_url)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(LearnedThreshold)) == 0
        assert conn.scalar(select(func.count()).select_from(Item).where(
            Item.id.in_(own_ids))) == 0
    engine.dispose()


def test_an_older_backup_restores_into_an_empty_database(fresh_database, redis_url, tmp_path):
    old_url, backup_file, tables, raw = backup_at_old_revision(
        fresh_database, redis_url, tmp_path)
    target_url = fresh_database("empty")
    target = build_app(target_url, redis_url, tmp_path)
    result = target.test_cli_runner().invoke(main, args=["db", "restore", backup_file, "--yes"])
    assert result.exit_code == 0, result.output
    assert_restored_at_head(target, target_url, old_url, tables, raw)


def assert_restored_at_head(target, target_url: str, old_url: str, tables: list[str],
                            raw_key: str) -> None:
    """Every row of the old database is there, the schema is at head, the service works."""
    engine = create_engine(target_url)
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT version_num FROM alembic_version")) == head_revision()
    engine.dispose()
    data_tables = [t for t in tables if t != "alembic_version"]
    restored = table_rows(target_url, old_url, data_tables)
    assert restored == table_rows(old_url, old_url, data_tables)
    assert all(restored[t] for t in ("queues", "items", "item_events", "api_keys"))
    # The restored service answers every old item with the old key, and takes new ones.
    engine = create_engine(target_url)
    with engine.connect() as conn:
        ids = list(conn.scalars(select(Item.id)))
    engine.dispose()
    client = target.test_client()
    auth = {"Authorization": f"Bearer {raw_key}"}
    for item_id in ids:
        assert client.get(f"/api/v1/items/{item_id}?history=1", headers=auth).status_code == 200
    resp = client.post("/api/v1/items", headers=auth,
                       json={"queue": "support", "output": "new", "confidence": 0.3})
    assert resp.status_code == 201, resp.get_json()
    target.extensions["review.engine"].dispose()


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def database_state(url: str) -> dict[str, list[tuple]]:
    """Every row of every table, in a stable order: to tell that nothing changed."""
    engine = create_engine(url)
    meta = MetaData()
    meta.reflect(bind=engine)
    with engine.connect() as conn:
        state = {name: sorted(tuple(map(repr, row)) for row in conn.execute(select(table)))
                 for name, table in meta.tables.items()}
    engine.dispose()
    return state


@pytest.mark.parametrize("fault", ["truncated", "grant to a missing role", "another database"])
def test_a_restore_that_fails_leaves_the_database_as_it_was(fresh_database, redis_url,
                                                            tmp_path, fault):
    """The PostgreSQL restore empties the target before loading the dump: that and the
    load are one transaction, so a dump that fails half-way takes nothing away."""
    if not PG_URL:
        pytest.skip("the SQLite path checks the file first and copies it in one step")
    source_url = fresh_database("source")
    upgrade(source_url)
    source = build_app(source_url, redis_url, tmp_path)
    seed(source)
    role = f"review_test_reader_{tmp_path.name[-8:].replace('-', '_')}"
    engine = create_engine(source_url)
    with engine.begin() as conn:
        if fault == "grant to a missing role":
            conn.execute(text(f'CREATE ROLE "{role}"'))
            conn.execute(text(f'GRANT SELECT ON items TO "{role}"'))
        if fault == "another database":
            for table in ("items", "alembic_version"):
                conn.execute(text(f"DROP TABLE {table} CASCADE"))
    engine.dispose()
    backup_file = tmp_path / "source.dump"
    result = source.test_cli_runner().invoke(main, args=["db", "backup", str(backup_file)])
    assert result.exit_code == 0, result.output
    source.extensions["review.engine"].dispose()
    if fault == "grant to a missing role":
        engine = create_engine(source_url)
        with engine.begin() as conn:
            conn.execute(text(f'DROP OWNED BY "{role}"'))
            conn.execute(text(f'DROP ROLE "{role}"'))
        engine.dispose()
    if fault == "truncated":
        data = backup_file.read_bytes()
        backup_file.write_bytes(data[: len(data) * 3 // 4])

    target_url = fresh_database("target")
    upgrade(target_url)
    target = build_app(target_url, redis_url, tmp_path)
    seed(target)
    engine = create_engine(target_url)
    with engine.begin() as conn:
        conn.execute(insert(LearnedThreshold), [{
            "queue_id": conn.scalar(select(Queue.id)), "model_version": "m1",
            "prompt_version": "p1", "evidence_count": 0, "errors": 0, "reason": "",
            "updated_at": utcnow()}])
    engine.dispose()
    before = database_state(target_url)

    result = target.test_cli_runner().invoke(
        main, args=["db", "restore", str(backup_file), "--yes"])
    assert result.exit_code != 0
    expected = {"truncated": "pg_restore failed", "grant to a missing role": "does not exist",
                "another database": "not a backup of this service"}[fault]
    assert expected in result.output
    assert database_state(target_url) == before
    target.extensions["review.engine"].dispose()
