"""The `review` console command: a Flask CLI group over the app factory."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext
from sqlalchemy import select

from review.cli_data import backup_command, restore_command, retention_group
from review.db import get_session


def _create_app() -> Flask:
    from app import create_app
    from review.config import ConfigError

    try:
        return create_app()
    except ConfigError as exc:
        # A refusal to start is a message for the operator, not a traceback.
        raise click.ClickException(str(exc)) from exc


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False,
             add_version_option=False)
def main() -> None:
    """review: a human-in-the-loop review queue for AI model outputs."""


def register_commands(app: Flask) -> None:
    app.cli.add_command(db_group)
    app.cli.add_command(users_group)
    app.cli.add_command(keys_group)
    app.cli.add_command(queues_group)
    app.cli.add_command(audit_group)
    app.cli.add_command(worker)
    app.cli.add_command(serve)
    db_group.add_command(backup_command)
    db_group.add_command(restore_command)
    app.cli.add_command(retention_group)
    from review.cli_reports import alerts_group, reports_group

    app.cli.add_command(reports_group)
    app.cli.add_command(alerts_group)
    from review.cli_bulk import data_group, items_group

    app.cli.add_command(items_group)
    app.cli.add_command(data_group)
    from review.cli_simulate import simulate_command

    app.cli.add_command(simulate_command)
    from review.cli_queues import register as register_queue_commands

    register_queue_commands(queues_group)


@click.group("db", help="Database schema (Alembic migrations), backup and restore.")
def db_group() -> None:
    pass


@db_group.command("upgrade")
@click.argument("revision", default="head")
@with_appcontext
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: head)."""
    from review.migrate import upgrade

    upgrade(current_app.config["DATABASE_URL"], revision)
    click.echo(f"database at {revision}")


@db_group.command("revision")
@click.option("-m", "--message", required=True)
@with_appcontext
def db_revision(message: str) -> None:
    """Autogenerate a migration from the models (developers)."""
    from review.migrate import revision

    revision(current_app.config["DATABASE_URL"], message)


@db_group.command("heads")
@with_appcontext
def db_heads() -> None:
    """Show the migration heads (more than one needs a merge)."""
    from alembic import command

    from review.migrate import alembic_config

    command.heads(alembic_config(current_app.config["DATABASE_URL"]))


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
    from review.auth import create_user
    from review.models import Queue, QueueMember

    session = get_session()
    generated = password is None
    password = password or secrets.token_urlsafe(12)
    try:
        user = create_user(session, name, password, role)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    for slug in queues:
        queue = session.scalar(select(Queue).where(Queue.slug == slug))
        if queue is None:
            raise click.UsageError(f"no queue {slug!r}")
        session.add(QueueMember(queue_id=queue.id, user_id=user.id, tags=[]))
    session.commit()
    click.echo(f"created {role} {name}" + (f" with password {password}" if generated else ""))


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
    from review.auth import create_api_key
    from review.models import User

    session = get_session()
    user = None
    if user_name:
        user = session.scalar(select(User).where(User.name == user_name))
        if user is None:
            raise click.UsageError(f"no user {user_name!r}")
    try:
        key, raw = create_api_key(session, name, scope, user)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    session.commit()
    click.echo(f"API key ({scope}) for {name}, shown once:\n  {raw}")
    click.echo(f"webhook signing secret:\n  {key.webhook_secret}")


@click.group("queues", help="Queue policies as code.")
def queues_group() -> None:
    pass


@queues_group.command("apply")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--yes", is_flag=True, help="Apply without asking.")
@click.option("--dry-run", is_flag=True, help="Show the diff only.")
@with_appcontext
def queues_apply(path: str, yes: bool, dry_run: bool) -> None:
    """Create or update queues from a TOML or YAML file (idempotent)."""
    from review.models import Queue
    from review.queues import PolicyError, apply_policy, diff_policy, load_policy_file

    try:
        policies = load_policy_file(path)
    except (PolicyError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    session = get_session()
    plan = {}
    for slug, policy in policies.items():
        queue = session.scalar(select(Queue).where(Queue.slug == slug))
        changes = diff_policy(queue, policy)
        if changes:
            plan[slug] = changes
            click.echo(f"{'~' if queue else '+'} queue {slug}")
            for field, (old, new) in changes.items():
                click.echo(f"    {field}: {json.dumps(old)} -> {json.dumps(new)}")
    if not plan:
        click.echo("no changes")
        return
    if dry_run or not (yes or click.confirm("apply these changes?", default=True)):
        return
    actor = os.environ.get("USER", "cli")
    for slug in plan:
        apply_policy(session, slug, policies[slug], actor=f"cli:{actor}")
    session.commit()
    click.echo(f"applied {len(plan)} queue(s)")


@queues_group.command("export")
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml")
@with_appcontext
def queues_export(fmt: str) -> None:
    """Print every queue policy in a form `queues apply` reads back."""
    import yaml

    from review.queues import export_policies

    data = {"queues": export_policies(get_session())}
    if fmt == "json":
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(yaml.safe_dump(data, sort_keys=False))


@click.group("audit", help="The audit trail.")
def audit_group() -> None:
    pass


@audit_group.command("export")
@click.option("--queue", "queue_slug", help="Only items of this queue.")
@click.option("--since", type=click.DateTime(), help="Only events at or after (UTC).")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl")
@click.option("--output", "-o", type=click.File("w"), default="-")
@with_appcontext
def audit_export(queue_slug: str | None, since, fmt: str, output) -> None:  # noqa: ANN001
    """Write every audit event as JSON lines or CSV."""
    import csv

    from review.events import iter_events
    from review.models import Queue

    session = get_session()
    queue_id = None
    if queue_slug:
        queue = session.scalar(select(Queue).where(Queue.slug == queue_slug))
        if queue is None:
            raise click.UsageError(f"no queue {queue_slug!r}")
        queue_id = queue.id
    events = iter_events(session, since=since, queue_id=queue_id)
    if fmt == "jsonl":
        for event in events:
            output.write(json.dumps(event) + "\n")
        return
    writer = csv.DictWriter(output, fieldnames=["id", "item_id", "kind", "actor", "at", "data"])
    writer.writeheader()
    for event in events:
        writer.writerow({**event, "data": json.dumps(event["data"])})


@click.command("worker")
@click.option("--burst", is_flag=True, help="Exit when the queues are empty.")
@click.option("--fork", is_flag=True,
              help="Run each job in a forked work horse (RQ's Worker) instead of in-process.")
@with_appcontext
def worker(burst: bool, fork: bool) -> None:
    """Run an RQ worker (checks, webhooks, periodic jobs).

    Jobs run in-process by default (RQ's SimpleWorker): a fork and a fresh database
    connection per job capped webhook delivery at ~10/s. Jobs are short, idempotent and
    time-limited, and a worker that dies is replaced by its supervisor, its jobs re-found
    by the sweeper, so the horse's isolation buys little; `--fork` brings it back.
    """
    from rq import SimpleWorker, Worker

    from review.jobs import ALL_QUEUES, get_redis, rq_queue
    from review.schedule import start_ticker
    from workers import set_app

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    set_app(app)
    queues = [rq_queue(name) for name in ALL_QUEUES]
    # The sweeper and the SLA clock: enqueued by every long-running worker,
    # run once per interval across all of them (see review/schedule.py).
    ticker = None if burst else start_ticker(app)
    try:
        worker_class = Worker if fork else SimpleWorker
        worker_class(queues, connection=get_redis()).work(burst=burst, with_scheduler=True)
    finally:
        if ticker is not None:
            ticker.stop()


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", "n_workers", default=1, show_default=True, type=int,
              help="RQ worker processes to run beside the web server.")
@with_appcontext
def serve(host: str, port: int, n_workers: int) -> None:
    """All in one: migrate, bootstrap, RQ worker(s) and the web server."""
    from werkzeug.serving import make_server

    from review.bootstrap import first_run
    from review.jobs import redis_url
    from review.migrate import upgrade

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    upgrade(app.config["DATABASE_URL"])
    os.environ["REDIS_URL"] = redis_url(app)  # the workers join the same Redis
    created = first_run(get_session())
    if created:
        _print_first_run(created, host, port)
    procs = [subprocess.Popen([sys.executable, "-m", "review.cli", "worker"], env=os.environ)
             for _ in range(n_workers)]
    try:
        # Bind first, then announce: whoever reads the line can connect at once.
        server = make_server(host, port, app, threaded=True)
        click.echo(f"review is up at http://{host}:{port}/  (Ctrl-C stops it)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=10)


def _print_first_run(created, host: str, port: int) -> None:  # noqa: ANN001
    click.echo("=" * 72)
    click.echo("First run: save these now, they are shown only once.")
    click.echo(f"  admin login:     {created.admin_name} / {created.admin_password}")
    click.echo(f"  submit API key:  {created.submit_key}")
    click.echo(f"  webhook secret:  {created.webhook_secret}")
    click.echo("Try it:")
    click.echo(f"  curl -s -X POST http://{host}:{port}/api/v1/items \\")
    click.echo(f"    -H 'Authorization: Bearer {created.submit_key}' \\")
    click.echo("    -H 'Content-Type: application/json' \\")
    click.echo("    -d '{\"queue\": \"demo\", \"output\": \"Your refund was sent.\", "
               "\"confidence\": 0.42}'")
    click.echo("=" * 72)


if __name__ == "__main__":
    main()
