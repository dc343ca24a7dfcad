"""Long-running bulk commands, with progress bars:
`review items import FILE.jsonl` and `review data generate`.

(`review simulate`, a replay of traffic through the router, is added by the
simulation work; give it a click.progressbar the same way.)
"""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from review.db import get_session


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
    from review.bulk_import import import_lines

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


@click.group("data", help="Demo and benchmark data.")
def data_group() -> None:
    pass


@data_group.command("generate")
@click.option("--items", "n_items", type=click.IntRange(min=0), default=10_000,
              show_default=True, help="How many items.")
@click.option("--days", type=click.FloatRange(min=0, min_open=True), default=30,
              show_default=True, help="Spread them over the last D days.")
@click.option("--seed", type=int, help="Same seed, same data (for a given now).")
@click.option("--reviewers", "reviewers_per_queue", type=click.IntRange(min=1), default=3,
              show_default=True, help="Reviewers per queue.")
@click.option("--yes", is_flag=True, help="Do not ask when PRODUCTION is set.")
@with_appcontext
def data_generate(n_items: int, days: float, seed: int | None, reviewers_per_queue: int,
                  yes: bool) -> None:
    """Bulk-insert realistic items (with events, checks, reviews and decisions).

    Items go to the queues support, billing and safety (created when missing)
    under the submitter `datagen`. Afterwards run `review reports rollup
    --rebuild` so the reports include the backdated days.
    """
    from flask import current_app

    from review.datagen import describe, generate

    if current_app.config.get("PRODUCTION") and not yes:
        click.confirm(f"PRODUCTION is set: really add {n_items} fake items?", abort=True)
    with click.progressbar(length=n_items, label="generating", file=sys.stderr,
                           show_pos=True) as bar:
        summary = generate(get_session(), items=n_items, days=days, seed=seed,
                           reviewers_per_queue=reviewers_per_queue, progress=bar.update)
    click.echo(describe(summary))
    click.echo("now run `review reports rollup --rebuild` to roll up the backdated days")
