"""Data-safety commands: `review db backup`, `review db restore`, `review retention run`."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from review.db import get_session


@click.command("backup")
@click.argument("path", type=click.Path(dir_okay=False))
@with_appcontext
def backup_command(path: str) -> None:
    """Write a consistent online backup of the database to PATH.

    SQLite: the online backup API (safe while the service runs). PostgreSQL:
    pg_dump --format=custom (restore with `review db restore` or pg_restore).
    """
    from review.backup import BackupError, backup

    try:
        written = backup(current_app.config["DATABASE_URL"], path)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"backup written to {written}")


@click.command("restore")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--yes", is_flag=True, help="Replace the database without asking.")
@with_appcontext
def restore_command(path: str, yes: bool) -> None:
    """Replace the whole database with the backup at PATH, then migrate to head.

    Stop the web and worker processes first.
    """
    from review.backup import BackupError, restore

    url = current_app.config["DATABASE_URL"]
    if not yes:
        click.confirm("This replaces every row of the database with the backup. Continue?",
                      abort=True)
    current_app.extensions["review.engine"].dispose()
    try:
        restore(url, path)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"restored {path}")


@click.group("retention", help="Purge item payloads after RETENTION_DAYS.")
def retention_group() -> None:
    pass


@retention_group.command("run")
@click.option("--days", type=int, help="Override RETENTION_DAYS for this run.")
@with_appcontext
def retention_run(days: int | None) -> None:
    """Purge payloads of items decided more than DAYS ago (audit summary kept)."""
    from review.clock import utcnow
    from review.retention import purge_payloads

    days = current_app.config["RETENTION_DAYS"] if days is None else days
    if days <= 0:
        click.echo("retention is off (RETENTION_DAYS=0): nothing purged")
        return
    report = purge_payloads(get_session(), utcnow(), days)
    click.echo(f"purged {report.purged} item(s) decided before {report.cutoff:%Y-%m-%d %H:%M} UTC")
