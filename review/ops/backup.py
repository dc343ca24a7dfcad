"""Backups and restores of the database, online.

SQLite (the embedded default) uses SQLite's online backup API: a consistent
copy page by page while the service keeps running, never a file copy of a
database that is being written (which can tear). PostgreSQL uses pg_dump's
custom format and pg_restore, which are consistent snapshots too.

A restore replaces the whole database with the backup and then applies any
newer migrations, so a backup taken by an older release restores into a newer
one. Stop the web and worker processes before restoring.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url

from review.core.migrate import upgrade


class BackupError(RuntimeError):
    """The backup or restore could not be made; the message says why."""


def _sqlite_path(database_url: str) -> str | None:
    url = make_url(database_url)
    return url.database if url.get_backend_name() == "sqlite" else None


def _libpq_url(database_url: str) -> str:
    """The URL without SQLAlchemy's driver suffix, as pg_dump and pg_restore read it."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} is not installed; install the PostgreSQL client tools "
                          "of the server's major version.")
    return found


def backup(database_url: str, path: str | Path) -> Path:
    """Write a consistent backup of the database to `path`; return it."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    source = _sqlite_path(database_url)
    if source is None:
        _run([_tool("pg_dump"), "--format=custom", "--no-owner", "--file", str(target),
              "--dbname", _libpq_url(database_url)])
        return target
    if target.exists():
        raise BackupError(f"{target} exists; choose a new file.")
    _sqlite_copy(source, target)
    return target


def _sqlite_copy(source: str | Path, target: str | Path) -> None:
    """SQLite's online backup API: a consistent copy even while others write."""
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        with dst:
            src.backup(dst)
    finally:
        src.close()
        dst.close()


def restore(database_url: str, path: str | Path) -> None:
    """Replace the database's contents with the backup at `path`, then migrate to head."""
    backup_file = Path(path)
    if not backup_file.is_file():
        raise BackupError(f"no backup file {backup_file}")
    target = _sqlite_path(database_url)
    if target is None:
        _run([_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--single-transaction",
              "--exit-on-error", "--dbname", _libpq_url(database_url), str(backup_file)])
    else:
        _check_sqlite_backup(backup_file)
        _sqlite_copy(backup_file, target)
    upgrade(database_url)


def _check_sqlite_backup(path: Path) -> None:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            ok = conn.execute("PRAGMA integrity_check").fetchone()[0]
            tables = {r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is not a SQLite database: {exc}") from exc
    if ok != "ok":
        raise BackupError(f"{path} is damaged: {ok}")
    if not {"alembic_version", "items"} <= tables:
        raise BackupError(f"{path} is not a backup of this service (no items table).")


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BackupError(f"{Path(command[0]).name} failed: {result.stderr.strip()[:2000]}")
