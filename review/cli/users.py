"""`review users create`: reviewer, supervisor and admin accounts."""

from __future__ import annotations

import secrets

import click
from flask.cli import with_appcontext

from review.core.accounts import create_user
from review.core.db import get_session
from review.core.models import QueueMember
from review.core.queues import queue_by_slug


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
    session = get_session()
    generated = password is None
    password = password or secrets.token_urlsafe(12)
    try:
        user = create_user(session, name, password, role)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    for slug in queues:
        queue = queue_by_slug(session, slug)
        if queue is None:
            raise click.UsageError(f"no queue {slug!r}")
        session.add(QueueMember(queue_id=queue.id, user_id=user.id, tags=[]))
    session.commit()
    click.echo(f"created {role} {name}" + (f" with password {password}" if generated else ""))
