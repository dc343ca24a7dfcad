"""`review items import FILE.jsonl`: items in bulk, with a progress bar."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from review.core.db import get_session
from review.intake.bulk_import import import_lines


@click.group("items", help="Items in bulk.")
def items_group() -> None:
    pass


def _count_lines(path: str) -> int:
    with open(path, "rb") as handle:
        return sum(1 for line in handle if line.strip())


@items_group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, allow_dash=False))
@click.option("--queue", "default_queue", help="Queue of lines that name none.")
@click.option("--key-name", default="import", show_default=True,
              help="Owner of the items: the API key name that may poll them.")
@with_appcontext
def items_import(path: str, default_queue: str | None, key_name: str) -> None:
    """Submit every line of a JSONL file (one item per line, as POST /api/v1/items takes it).

    Same validation, routing and idempotency as the API, 500 lines per
    transaction. Exits 1 when any line failed (the others are stored).
    """
    total = _count_lines(path)
    with open(path, encoding="utf-8") as handle, click.progressbar(
            length=total, label="importing", file=sys.stderr,
            show_pos=True) as bar:
        summary = import_lines(get_session(), handle, key_name, default_queue=default_queue,
                               progress=bar.update)
    click.echo(f"{summary.lines} lines: {summary.created} created, {summary.replayed} "
               f"replayed, {summary.errors} failed")
    for number, code, message in summary.first_errors:
        click.echo(f"  line {number}: {code}: {message}", err=True)
    if summary.errors > len(summary.first_errors):
        click.echo(f"  ... and {summary.errors - len(summary.first_errors)} more", err=True)
    if summary.errors:
        sys.exit(1)
