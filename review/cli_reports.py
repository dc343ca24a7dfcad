"""Supervisor commands: `review reports rollup`, `review alerts evaluate`."""

from __future__ import annotations

import json

import click
from flask.cli import with_appcontext

from review.db import get_session


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
    from review.rollups import refresh_rollups

    stored = refresh_rollups(get_session(), days=days, rebuild=rebuild)
    click.echo(f"rolled up {stored} kind-days")


@click.group("alerts", help="Operational alerts.")
def alerts_group() -> None:
    pass


@alerts_group.command("evaluate")
@with_appcontext
def alerts_evaluate() -> None:
    """Open and resolve alert episodes now; cron it as a watchdog of the workers."""
    from dataclasses import asdict

    from review.alerts import evaluate_alerts

    click.echo(json.dumps(asdict(evaluate_alerts(get_session()))))
