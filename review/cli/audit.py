"""`review audit export`: the audit trail as JSON lines or CSV."""

from __future__ import annotations

import csv
import json

import click
from flask.cli import with_appcontext

from review.core.db import get_session
from review.core.events import iter_events
from review.core.queues import queue_by_slug


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
    session = get_session()
    queue_id = None
    if queue_slug:
        queue = queue_by_slug(session, queue_slug)
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
