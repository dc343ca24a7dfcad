"""The `review` console command: a Flask CLI group over the app factory.

One module per command group; each command parses its arguments, calls one service
function and prints. Commands run inside an app context (FlaskGroup builds the app).
"""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import FlaskGroup

from review.cli import (
    alerts,
    audit,
    data,
    db,
    export,
    items,
    keys,
    queues,
    reports,
    retention,
    serve,
    simulate,
    users,
)
from review.core.settings import ConfigError
from review.factory import create_app


def _create_app() -> Flask:
    try:
        return create_app()
    except ConfigError as exc:
        # A refusal to start is a message for the operator, not a traceback.
        raise click.ClickException(str(exc)) from exc


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False,
             add_version_option=False)
def main() -> None:
    """review: a human-in-the-loop review queue for AI model outputs."""


for _command in (db.db_group, users.users_group, keys.keys_group, queues.queues_group,
                 audit.audit_group, serve.worker, serve.serve, retention.retention_group,
                 reports.reports_group, alerts.alerts_group, items.items_group, data.data_group,
                 simulate.simulate_command, export.export_group):
    main.add_command(_command)
