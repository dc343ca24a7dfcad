"""`review keys create`: API keys (stored hashed; shown once)."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from review.core.accounts import issue_api_key
from review.core.db import get_session


@click.group("keys", help="API keys (stored hashed; shown once).")
def keys_group() -> None:
    pass


@keys_group.command("create")
@click.argument("name")
@click.option("--scope", type=click.Choice(["submit", "review", "admin"]), default="submit",
              show_default=True)
@click.option("--user", "user_name", help="The reviewer a review key acts as.")
@with_appcontext
def keys_create(name: str, scope: str, user_name: str | None) -> None:
    try:
        key, raw = issue_api_key(get_session(), name, scope, user_name)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(f"API key ({scope}) for {name}, shown once:\n  {raw}")
    click.echo(f"webhook signing secret:\n  {key.webhook_secret}")
