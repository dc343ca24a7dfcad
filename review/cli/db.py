"""`review db upgrade|revision|heads|backup|restore`: the schema and the data's safety."""

from __future__ import annotations

import click
from alembic import command
from flask import current_app
from flask.cli import with_appcontext

from review.core import migrate
from review.core.settings import settings
from review.ops.backup import BackupError
from review.ops.backup import backup as backup_database
from review.ops.backup import restore as restore_database


@click.group("db", help="Database schema (Alembic migrations), backup and restore.")
def db_group() -> None:
    pass


@db_group.command("upgrade")
@click.argument("revision", default="head")
@with_appcontext
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: head)."""
    migrate.upgrade(settings().DATABASE_URL, revision)
    click.echo(f"database at {revision}")


@db_group.command("revision")
@click.option("-m", "--message", required=True)
@with_appcontext
def db_revision(message: str) -> None:
    """Autogenerate a migration from the models (developers)."""
    migrate.revision(settings().DATABASE_URL, message)


@db_group.command("heads")
@with_appcontext
def db_heads() -> None:
    """Show the migration heads (more than one needs a merge)."""
    command.heads(migrate.alembic_config(settings().DATABASE_URL))


@db_group.command("backup")
@click.argument("path", type=click.Path(dir_okay=False))
@with_appcontext
def db_backup(path: str) -> None:
    """Write a consistent online backup of the database to PATH.

    SQLite: the online backup API (safe while the service runs). PostgreSQL:
    pg_dump --format=custom (restore with `review db restore` or pg_restore).
    """
    try:
        written = backup_database(settings().DATABASE_URL, path)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"backup written to {written}")


@db_group.command("restore")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--yes", is_flag=True, help="Replace the database without asking.")
@with_appcontext
def db_restore(path: str, yes: bool) -> None:
    """Replace the whole database with the backup at PATH, then migrate to head.

    Stop the web and worker processes first.
    """
    url = settings().DATABASE_URL
    if not yes:
        click.confirm("This replaces every row of the database with the backup. Continue?",
                      abort=True)
    current_app.extensions["review.engine"].dispose()
    try:
        restore_database(url, path)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"restored {path}")
