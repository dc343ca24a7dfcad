"""`review users create`: reviewer, supervisor and admin accounts."""

from __future__ import annotations

import secrets

import click
from flask.cli import with_appcontext

from review.core.accounts import register_user
from review.core.db import get_session


@click.group("users", help="Reviewer, supervisor and admin accounts.")
def users_group() -> None:
    pass


@users_group.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice(["reviewer", "supervisor", "admin"]),
              default="reviewer", show_default=True)
@click.option("--password", help="Leave out to generate one (printed once).")
@click.option("--queue", "queues", multiple=True, help="Make the user a member of QUEUE.")
@with_appcontext
def users_create(name: str, role: str, password: str | None, queues: tuple[str, ...]) -> None:
    generated = password is None
    password = password or secrets.token_urlsafe(12)
    try:
        register_user(get_session(), name, password, role, queues)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(f"created {role} {name}" + (f" with password {password}" if generated else ""))
