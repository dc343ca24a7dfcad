"""`review data generate`: realistic demo and benchmark data, with a progress bar."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from review.core.db import get_session
from review.core.settings import settings
from review.ops.datagen import describe, generate


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

    if settings().PRODUCTION and not yes:
        click.confirm(f"PRODUCTION is set: really add {n_items} fake items?", abort=True)
    with click.progressbar(length=n_items, label="generating", file=sys.stderr,
                           show_pos=True) as bar:
        summary = generate(get_session(), items=n_items, days=days, seed=seed,
                           reviewers_per_queue=reviewers_per_queue, progress=bar.update)
    click.echo(describe(summary))
    click.echo("now run `review reports rollup --rebuild` to roll up the backdated days")
