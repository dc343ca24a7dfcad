"""Backups and restores of the database, online.

SQLite (the embedded default) uses SQLite's online backup API: a consistent
copy page by page while the service keeps running, never a file copy of a
database that is being written (which can tear). PostgreSQL uses pg_dump's
custom format and pg_restore, which are consistent snapshots too.

A restore replaces the whole database with the backup and then applies any
newer migrations, so a backup taken by an older release restores into a newer
one. Stop the web and worker processes before restoring.

On PostgreSQL `pg_restore --clean` is not enough for that: it drops only the
objects the dump holds, and a table a newer release added (learned_thresholds,
0005) keeps a foreign key to one of them. So the restore first empties the
dump's schemas of every table, view, sequence, type and function, then runs
the dump's SQL, all in one transaction through psql: a restore that fails
anywhere leaves the database as it was.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
import tempfile
from pathlib import Path
from typing import IO

from sqlalchemy.engine import make_url

from review.core.items import align_feed_positions
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
        _pg_restore(_libpq_url(database_url), backup_file)
    else:
        _check_sqlite_backup(backup_file)
        _sqlite_copy(backup_file, target)
    upgrade(database_url)
    # Another cluster may number transactions below the dump's feed positions.
    align_feed_positions(database_url)


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


# "214; 1259 23928 TABLE public items postgres": a table entry of `pg_restore --list`.
_TOC_TABLE = re.compile(r"^\d+; \d+ \d+ TABLE (\S+) (\S+) ", re.MULTILINE)

# Empties the schemas named in the array `schemas` of everything a restore creates
# or a migration may have added. Objects of extensions are left to their extension.
_EMPTY_SCHEMAS = """
DO $restore$
DECLARE
    schemas text[] := %s;
    statement text;
BEGIN
    FOR statement IN
        SELECT format('DROP %%s IF EXISTS %%I.%%I CASCADE',
                      CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                                     WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE'
                                     WHEN 'c' THEN 'TYPE' ELSE 'TABLE' END,
                      n.nspname, c.relname)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = ANY (schemas) AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c')
          AND NOT c.relispartition
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                          AND d.objid = c.oid AND d.deptype = 'e')
        ORDER BY c.relkind IN ('r', 'p') DESC  -- tables first: they take their sequences
    LOOP
        EXECUTE statement;
    END LOOP;
    FOR statement IN
        SELECT format('DROP %%s IF EXISTS %%I.%%I CASCADE',
                      CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, n.nspname, t.typname)
        FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname = ANY (schemas) AND t.typtype IN ('e', 'd', 'r')
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass
                          AND d.objid = t.oid AND d.deptype = 'e')
    LOOP
        EXECUTE statement;
    END LOOP;
    FOR statement IN
        SELECT format('DROP ROUTINE IF EXISTS %%s CASCADE', p.oid::regprocedure)
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = ANY (schemas) AND p.prokind IN ('f', 'p')
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                          AND d.objid = p.oid AND d.deptype = 'e')
    LOOP
        EXECUTE statement;
    END LOOP;
END
$restore$;
"""


def _dump_schemas(backup_file: Path) -> list[str]:
    """The schemas the dump's tables live in; refuses a dump of some other database."""
    listing = subprocess.run([_tool("pg_restore"), "--list", str(backup_file)],
                             capture_output=True, text=True, check=False)
    if listing.returncode != 0:
        raise BackupError(f"pg_restore failed: {listing.stderr.strip()[:2000]}")
    tables = _TOC_TABLE.findall(listing.stdout)
    names = {name for _schema, name in tables}
    if not {"alembic_version", "items"} <= names:
        # Checked before anything is dropped: restoring it would empty the database.
        raise BackupError(f"{backup_file} is not a backup of this service (no items table).")
    return sorted({schema for schema, _name in tables})


def _pg_restore(libpq_url: str, backup_file: Path) -> None:
    """Empty the dump's schemas and restore the dump, in one transaction (psql)."""
    schemas = _dump_schemas(backup_file)
    literal = "ARRAY[" + ", ".join("'" + s.replace("'", "''") + "'" for s in schemas) + "]::text[]"
    prelude = ("BEGIN;\n" + _EMPTY_SCHEMAS % literal).encode()
    with tempfile.TemporaryFile() as restore_log, tempfile.TemporaryFile() as psql_log:
        psql = subprocess.Popen(
            [_tool("psql"), "--no-psqlrc", "--quiet", "--set", "ON_ERROR_STOP=1",
             "--dbname", libpq_url],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=psql_log)
        # Without --clean: the schemas are empty by then. Without --single-transaction:
        # the transaction is ours, so the prelude is inside it.
        script = subprocess.Popen(
            [_tool("pg_restore"), "--no-owner", "--file=-", str(backup_file)],
            stdout=subprocess.PIPE, stderr=restore_log)
        restored = _feed(psql, script, prelude)
        if psql.returncode != 0:
            raise BackupError(f"psql failed: {_tail(psql_log)}")
        if not restored:
            raise BackupError(f"pg_restore failed: {_tail(restore_log)}")


def _feed(psql: subprocess.Popen, script: subprocess.Popen, prelude: bytes) -> bool:
    """Send the prelude and pg_restore's script to psql; COMMIT only if the script is
    whole. Return whether pg_restore succeeded; psql has exited on return."""
    assert psql.stdin is not None and script.stdout is not None
    restored = False
    try:
        psql.stdin.write(prelude)
        shutil.copyfileobj(script.stdout, psql.stdin, 1 << 16)
        restored = script.wait() == 0
        if restored:
            psql.stdin.write(b"COMMIT;\n")
        # Otherwise no COMMIT: psql reaches the end of its input inside the
        # transaction and disconnects, which rolls it back.
    except BrokenPipeError:
        pass  # psql stopped at an error (ON_ERROR_STOP); its exit code says so
    finally:
        try:
            psql.stdin.close()
        except BrokenPipeError:
            pass
        script.stdout.close()
        if script.poll() is None:
            script.kill()
        script.wait()
        psql.wait()
    return restored


def _tail(log: IO[bytes]) -> str:
    log.seek(0)
    return log.read().decode(errors="replace").strip()[-2000:]


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BackupError(f"{Path(command[0]).name} failed: {result.stderr.strip()[:2000]}")
