"""`review retention run`: purge item payloads after RETENTION_DAYS."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from review.core.clock import utcnow
from review.core.db import get_session
from review.core.settings import settings
from review.ops.retention import purge_payloads


@click.group("retention", help="Purge item payloads after RETENTION_DAYS.")
def retention_group() -> None:
    pass


@retention_group.command("run")
@click.option("--days", type=int, help="Override RETENTION_DAYS for this run.")
@with_appcontext
def retention_run(days: int | None) -> None:
    """Purge payloads of items decided more than DAYS ago (audit summary kept)."""
    days = settings().RETENTION_DAYS if days is None else days
    if days <= 0:
        click.echo("retention is off (RETENTION_DAYS=0): nothing purged")
        return
    report = purge_payloads(get_session(), utcnow(), days)
    click.echo(f"purged {report.purged} item(s) decided before {report.cutoff:%Y-%m-%d %H:%M} UTC")
