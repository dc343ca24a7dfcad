"""`review queues show|stage|breaker reset`: a queue's adaptive-routing state for operators.

Attached to the `queues` group in review/cli.py. Stage and breaker changes are
recorded as `cli:$USER`, like `queues apply`.
"""

from __future__ import annotations

import json
import os

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from review.adaptive import ROLLOUT_STAGES
from review.db import get_session
from review.models import Queue


def _queue(slug: str) -> Queue:
    queue = get_session().scalar(select(Queue).where(Queue.slug == slug))
    if queue is None:
        raise click.ClickException(f"no queue {slug!r}")
    return queue


def _actor() -> str:
    return f"cli:{os.environ.get('USER', 'cli')}"


def _fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}".rstrip("0").rstrip(".")


@click.command("show")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON instead.")
@with_appcontext
def queues_show(slug: str, as_json: bool) -> None:
    """A queue's routing: stage, breaker, learned threshold per model/prompt version."""
    from review.learning import queue_state

    state = queue_state(get_session(), _queue(slug))
    if as_json:
        click.echo(json.dumps(state, indent=2))
        return
    adaptive = state["adaptive"]
    click.echo(f"queue {state['slug']} ({state['name']})")
    if state["max_error_rate"] is None:
        click.echo(f"  fixed auto_approve_at {_fmt(state['auto_approve_at'])} "
                   "(no max_error_rate: adaptive routing is off)")
        return
    click.echo(f"  target error rate {_fmt(state['max_error_rate'])} at "
               f"{_fmt(state['confidence_level'])} confidence")
    click.echo(f"  rollout stage {adaptive['rollout_stage']}"
               f" (since {adaptive['stage_changed_at'] or '-'})")
    breaker = adaptive["breaker"]
    click.echo(f"  breaker {'OPEN' if breaker['open'] else 'closed'}"
               + (f": {breaker['reason']}" if breaker["reason"] else ""))
    click.echo(f"  learned at {adaptive['learned_at'] or 'never'}")
    if not adaptive["versions"]:
        click.echo("  no versions seen yet")
        return
    click.echo(f"  {'model':<16} {'prompt':<12} {'threshold':>10} {'evidence':>9} "
               f"{'errors':>7} {'bound':>7}")
    for row in adaptive["versions"]:
        threshold = _fmt(row["threshold"]) if row["threshold"] is not None else "none"
        click.echo(f"  {(row['model_version'] or '-'):<16} {(row['prompt_version'] or '-'):<12} "
                   f"{threshold:>10} {row['evidence_count']:>9} {row['errors']:>7} "
                   f"{_fmt(row['upper_bound']):>7}")


@click.command("stage")
@click.argument("slug")
@click.argument("stage", type=click.Choice(ROLLOUT_STAGES))
@click.option("--note", default="", help="Why; kept in the queue's audit trail.")
@with_appcontext
def queues_stage(slug: str, stage: str, note: str) -> None:
    """Set the rollout stage of an adaptive queue."""
    from review.rollout import StageError, set_stage

    session = get_session()
    queue = _queue(slug)
    try:
        changed = set_stage(session, queue, stage, _actor(), note)
    except StageError as exc:
        raise click.ClickException(str(exc)) from exc
    session.commit()
    click.echo(f"queue {slug}: rollout stage {stage}" + ("" if changed else " (unchanged)"))


@click.group("breaker", help="The circuit breaker of an adaptive queue.")
def breaker_group() -> None:
    pass


@breaker_group.command("reset")
@click.argument("slug")
@click.option("--note", default="", help="Why; kept in the queue's audit trail.")
@with_appcontext
def breaker_reset(slug: str, note: str) -> None:
    """Close an open breaker: items may be routed automatically again."""
    from review.breaker import reset_breaker

    session = get_session()
    queue = _queue(slug)
    if not reset_breaker(session, queue, _actor(), note):
        raise click.ClickException(f"the breaker of queue {slug!r} is not open")
    session.commit()
    click.echo(f"queue {slug}: breaker closed")


def register(queues_group: click.Group) -> None:
    for command in (queues_show, queues_stage, breaker_group):
        queues_group.add_command(command)
