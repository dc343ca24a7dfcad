"""`review alerts evaluate`: open and resolve alert episodes now."""

from __future__ import annotations

import json
from dataclasses import asdict

import click
from flask.cli import with_appcontext

from review.alerts.rules import evaluate_alerts
from review.core.db import get_session


@click.group("alerts", help="Operational alerts.")
def alerts_group() -> None:
    pass


@alerts_group.command("evaluate")
@with_appcontext
def alerts_evaluate() -> None:
    """Open and resolve alert episodes now; cron it as a watchdog of the workers."""
    click.echo(json.dumps(asdict(evaluate_alerts(get_session()))))
