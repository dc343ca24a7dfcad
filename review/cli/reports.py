"""`review reports rollup`: store the report rows of closed days."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from review.core.db import get_session
from review.reports.rollups import refresh_rollups


@click.group("reports", help="Supervisor reports: daily rollups.")
def reports_group() -> None:
    pass


@reports_group.command("rollup")
@click.option("--days", type=int, default=35, show_default=True,
              help="Roll up the closed days among the last DAYS.")
@click.option("--rebuild", is_flag=True, help="Recompute days already rolled up "
              "(after a backdated import).")
@with_appcontext
def reports_rollup(days: int, rebuild: bool) -> None:
    """Store the report rows of closed days (the periodic job does this too)."""
    stored = refresh_rollups(get_session(), days=days, rebuild=rebuild)
    click.echo(f"rolled up {stored} kind-days")
