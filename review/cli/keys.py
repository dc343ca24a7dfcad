"""`review keys`: API keys (stored hashed; a raw key is shown once): create, list,
revoke, rotate. Every change is audited as `cli:<OS user>`."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from review.cli.users import cli_actor, refused
from review.core.accounts import issue_api_key, list_keys, revoke_key, rotate_key
from review.core.db import get_session
from review.core.errors import DomainError


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
        key, raw = issue_api_key(get_session(), name, scope, user_name, actor=cli_actor())
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(f"API key ({scope}) for {name}, shown once:\n  {raw}")
    click.echo(f"webhook signing secret:\n  {key.webhook_secret}")


@keys_group.command("list")
@click.option("--all", "include_revoked", is_flag=True, help="Revoked keys too.")
@with_appcontext
def keys_list(include_revoked: bool) -> None:
    """Keys by name: id, scope, prefix, user, created, last used (never the key)."""
    for key in list_keys(get_session(), include_revoked=include_revoked):
        used = key.last_used_at.strftime("%Y-%m-%d %H:%M") if key.last_used_at else "never"
        state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "live"
        click.echo(f"{key.id:>6} {key.name:<24} {key.scope:<7} {key.prefix}… "
                   f"user={key.user.name if key.user else '-'} "
                   f"created={key.created_at:%Y-%m-%d} used={used} {state}")


@keys_group.command("revoke")
@click.argument("key_id", type=int)
@with_appcontext
def keys_revoke(key_id: int) -> None:
    """Revoke key KEY_ID (see `keys list`): its next request gets 401."""
    try:
        key = revoke_key(get_session(), cli_actor(), key_id)
    except DomainError as exc:
        raise refused(exc) from exc
    click.echo(f"revoked key {key.id} ({key.name}, {key.prefix}…)")


@keys_group.command("rotate")
@click.argument("key_id", type=int)
@with_appcontext
def keys_rotate(key_id: int) -> None:
    """Replace key KEY_ID by a new one (same name, scope, user and webhook secret) and
    revoke the old one at once."""
    try:
        key, raw = rotate_key(get_session(), cli_actor(), key_id)
    except DomainError as exc:
        raise refused(exc) from exc
    click.echo(f"key {key_id} is revoked; its replacement {key.id} ({key.scope}) for "
               f"{key.name}, shown once:\n  {raw}")
