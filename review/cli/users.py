"""`review users`: reviewer, supervisor and admin accounts: create, list, deactivate,
activate, set a password. Every change is audited as `cli:<OS user>`."""

from __future__ import annotations

import getpass
import secrets

import click
from flask.cli import with_appcontext

from review.core.accounts import (
    list_users,
    register_user,
    set_password,
    set_user_active,
    user_named,
    user_queues,
)
from review.core.db import get_session
from review.core.errors import DomainError


def cli_actor() -> str:
    """Who ran the command, for the account audit trail."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name for this uid (some containers)
        return "cli"


def refused(exc: DomainError) -> click.ClickException:
    """A domain refusal as the command's error message (exit status 1)."""
    return click.ClickException(f"{exc.message} ({exc.code})")


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
        register_user(get_session(), name, password, role, queues, actor=cli_actor())
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(f"created {role} {name}" + (f" with password {password}" if generated else ""))


@users_group.command("list")
@with_appcontext
def users_list() -> None:
    """Every account: name, role, active or not, queues."""
    session = get_session()
    users = list_users(session)
    queues = user_queues(session, [u.id for u in users])
    for user in users:
        member_of = ",".join(q["queue"] for q in queues[user.id]) or "-"
        click.echo(f"{user.name:<24} {user.role:<10} "
                   f"{'active' if user.active else 'deactivated':<11} {member_of}")


def _set_active(name: str, active: bool) -> None:
    session = get_session()
    try:
        user, changed = set_user_active(session, cli_actor(), user_named(session, name).id,
                                        active)
    except DomainError as exc:
        raise refused(exc) from exc
    state = "active" if active else "deactivated"
    click.echo(f"{user.name} is {state}" + ("" if changed else " already"))


@users_group.command("deactivate")
@click.argument("name")
@with_appcontext
def users_deactivate(name: str) -> None:
    """Refuse NAME's logins, end their sessions and disable their keys, at once."""
    _set_active(name, False)


@users_group.command("activate")
@click.argument("name")
@with_appcontext
def users_activate(name: str) -> None:
    """Let NAME sign in again (with a new login: old sessions stay ended)."""
    _set_active(name, True)


@users_group.command("set-password")
@click.argument("name")
@click.option("--password", help="The new password; leave out to be prompted for it.")
@click.option("--generate", is_flag=True, help="Generate one and print it once.")
@with_appcontext
def users_set_password(name: str, password: str | None, generate: bool) -> None:
    """Set NAME's password; every session of NAME ends."""
    if generate:
        password = secrets.token_urlsafe(12)
    elif password is None:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    session = get_session()
    try:
        set_password(session, cli_actor(), user_named(session, name).id, password)
    except DomainError as exc:
        raise refused(exc) from exc
    click.echo(f"password of {name} set; their sessions are ended"
               + (f"; new password {password}" if generate else ""))
