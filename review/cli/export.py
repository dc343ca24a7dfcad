"""`review export dataset`: a queue's decided items as a training or evaluation dataset."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from review.cli.users import refused
from review.core.access import report_queue
from review.core.db import get_session
from review.core.errors import DomainError
from review.reports.dataset_export import (
    FORMATS,
    SHAPES,
    count_rows,
    export_request,
    write_parquet,
    write_text,
)


@click.group("export", help="Export data for fine-tuning and evaluation.")
def export_group() -> None:
    pass


@export_group.command("dataset")
@click.option("--queue", "slug", required=True, help="The queue's slug.")
@click.option("--from", "raw_from", default=None, help="Decided on or after, YYYY-MM-DD.")
@click.option("--to", "raw_to", default=None, help="Decided up to and including, YYYY-MM-DD.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="jsonl",
              show_default=True)
@click.option("--shape", type=click.Choice(SHAPES), default="records", show_default=True,
              help="records: one row per item; chat: messages for chat fine-tuning "
                   "(approved and edited items); preference: chosen/rejected (edited items).")
@click.option("--output", "-o", "path", type=click.Path(dir_okay=False, writable=True),
              default="-", show_default=True, help="File to write; - is standard output.")
@with_appcontext
def export_dataset(slug: str, raw_from: str | None, raw_to: str | None, fmt: str, shape: str,
                   path: str) -> None:
    """Stream a queue's decided items to a file (bounded memory at any size)."""
    session = get_session()
    try:
        req = export_request(report_queue(session, None, slug), raw_from, raw_to, fmt, shape)
    except DomainError as exc:
        raise refused(exc) from exc
    if fmt == "parquet" and path == "-":
        raise click.UsageError("Parquet needs a file: give --output FILE.")
    total = count_rows(session, req)
    to_stdout = path == "-"
    # The bar goes to stderr, so standard output stays the data alone.
    with click.progressbar(length=total, label=f"exporting {slug}", file=sys.stderr,
                           hidden=to_stdout) as bar:
        if fmt == "parquet":
            with open(path, "wb") as out:
                written = write_parquet(session, req, out, bar.update)
        elif to_stdout:
            written = write_text(session, req, click.get_text_stream("stdout"))
        else:
            with open(path, "w", encoding="utf-8", newline="") as out:
                written = write_text(session, req, out, bar.update)
    if not to_stdout:
        click.echo(f"wrote {written} rows to {path}", err=True)
