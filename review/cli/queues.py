"""`review queues apply|export|show|stage|breaker reset`: queue policies as code, and a
queue's adaptive-routing state for operators.

Policy, stage and breaker changes are recorded as `cli:$USER`.
"""

from __future__ import annotations

import json
import os

import click
import yaml
from flask.cli import with_appcontext

from review.adaptive.breaker import reset_breaker
from review.adaptive.learning import queue_state
from review.adaptive.rollout import StageError, set_stage
from review.adaptive.thresholds import ROLLOUT_STAGES
from review.core.db import get_session
from review.core.models import Queue
from review.core.queues import (
    PolicyError,
    apply_policies,
    diff_policy,
    export_policies,
    load_policy_file,
    queue_by_slug,
)


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
    try:
        policies = load_policy_file(path)
    except (PolicyError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    session = get_session()
    plan = {}
    for slug, policy in policies.items():
        queue = queue_by_slug(session, slug)
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
    applied = apply_policies(session, {slug: policies[slug] for slug in plan}, _actor())
    click.echo(f"applied {applied} queue(s)")


@queues_group.command("export")
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml")
@with_appcontext
def queues_export(fmt: str) -> None:
    """Print every queue policy in a form `queues apply` reads back."""
    data = {"queues": export_policies(get_session())}
    if fmt == "json":
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(yaml.safe_dump(data, sort_keys=False))


def _queue(slug: str) -> Queue:
    queue = queue_by_slug(get_session(), slug)
    if queue is None:
        raise click.ClickException(f"no queue {slug!r}")
    return queue


def _actor() -> str:
    return f"cli:{os.environ.get('USER', 'cli')}"


def _fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}".rstrip("0").rstrip(".")


@queues_group.command("show")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON instead.")
@with_appcontext
def queues_show(slug: str, as_json: bool) -> None:
    """A queue's routing: stage, breaker, learned threshold per model/prompt version."""
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


@queues_group.command("stage")
@click.argument("slug")
@click.argument("stage", type=click.Choice(ROLLOUT_STAGES))
@click.option("--note", default="", help="Why; kept in the queue's audit trail.")
@with_appcontext
def queues_stage(slug: str, stage: str, note: str) -> None:
    """Set the rollout stage of an adaptive queue."""
    session = get_session()
    queue = _queue(slug)
    try:
        changed = set_stage(session, queue, stage, _actor(), note)
    except StageError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"queue {slug}: rollout stage {stage}" + ("" if changed else " (unchanged)"))


@queues_group.group("breaker", help="The circuit breaker of an adaptive queue.")
def breaker_group() -> None:
    pass


@breaker_group.command("reset")
@click.argument("slug")
@click.option("--note", default="", help="Why; kept in the queue's audit trail.")
@with_appcontext
def breaker_reset(slug: str, note: str) -> None:
    """Close an open breaker: items may be routed automatically again."""
    session = get_session()
    queue = _queue(slug)
    if not reset_breaker(session, queue, _actor(), note):
        raise click.ClickException(f"the breaker of queue {slug!r} is not open")
    click.echo(f"queue {slug}: breaker closed")
