"""`review reports rollup`: store the report rows of closed days."""

from __future__ import annotations

import json

import click
from flask.cli import with_appcontext

from review.core.access import report_queue, report_queues
from review.core.clock import utcnow
from review.core.db import get_session
from review.core.errors import DomainError
from review.reports.cost import cost_report
from review.reports.forecast import queue_forecast
from review.reports.rollups import refresh_rollups
from review.reports.sla_report import parse_range


@click.group("reports", help="Supervisor reports: daily rollups, cost, forecast.")
def reports_group() -> None:
    pass


@reports_group.command("rollup")
@click.option("--days", type=int, default=35, show_default=True,
              help="Roll up the closed days among the last DAYS.")
@click.option("--rebuild", is_flag=True, help="Recompute days already rolled up "
              "(after a backdated import).")
@with_appcontext
def reports_rollup(days: int, rebuild: bool) -> None:
    """Store the report rows of closed days (the periodic job does this too)."""
    stored = refresh_rollups(get_session(), days=days, rebuild=rebuild)
    click.echo(f"rolled up {stored} kind-days")


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


@reports_group.command("cost")
@click.option("--queue", "slug", default=None, help="One queue (default: all).")
@click.option("--from", "raw_from", default=None, help="First day, YYYY-MM-DD.")
@click.option("--to", "raw_to", default=None, help="Last day, YYYY-MM-DD (default today).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@with_appcontext
def reports_cost(slug: str | None, raw_from: str | None, raw_to: str | None,
                 as_json: bool) -> None:
    """Cost per day, queue, model version and route; cost per correct decision."""
    session = get_session()
    try:
        report = cost_report(session, report_queues(session, None, slug),
                             parse_range(raw_from, raw_to))
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"{'day':10}  {'queue':16} {'model':20} {'route':5} {'items':>6} "
               f"{'model':>10} {'check':>10} {'human':>10} {'total':>10} {'per correct':>11}")
    for row in report["rows"]:
        model = "|".join(str(v) for v in (row["model"]["name"], row["model"]["version"]))
        cost = row["cost"]
        click.echo(f"{row['day']:10}  {row['queue']:16} {model[:20]:20} {row['route']:5} "
                   f"{row['items']:>6} {cost['model']:>10.4f} {cost['check']:>10.4f} "
                   f"{cost['human']:>10.4f} {cost['total']:>10.4f} "
                   f"{_money(row['cost_per_correct_decision']):>11}")
    total = report["total"]
    if total:
        click.echo(f"total: {total['cost']['total']:.4f} over {total['items']} items; "
                   f"per correct decision {_money(total['cost_per_correct_decision'])}")


@reports_group.command("forecast")
@click.option("--queue", "slug", required=True, help="The queue's slug.")
@click.option("--hours", type=click.IntRange(1, 168), default=24, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the forecast as JSON.")
@with_appcontext
def reports_forecast(slug: str, hours: int, as_json: bool) -> None:
    """Backlog forecast for the next hours and the reviewers the SLA needs (Erlang C)."""
    session = get_session()
    try:
        report = queue_forecast(session, report_queue(session, None, slug), utcnow(), hours)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"{report['queue']}: backlog now {report['backlog_now']}, method "
               f"{report['method']}, AHT {report['aht_seconds']:g} s"
               f"{'' if report['aht_measured'] else ' (default: none measured)'}, "
               f"SLA {report['sla_seconds']} s")
    click.echo(f"{'hour (UTC)':20} {'inflow':>8} {'done':>8} {'backlog':>8} {'reviewers':>9}")
    for row in report["hours"]:
        click.echo(f"{row['start'][:16]:20} {row['inflow']:>8.1f} {row['throughput']:>8.1f} "
                   f"{row['backlog']:>8.1f} {row['reviewers_needed']:>9}")
    click.echo(f"to clear the backlog within the SLA: +{report['reviewers_to_clear_backlog']} "
               f"reviewers; peak need {report['peak_reviewers_needed']}")
    click.echo("assumptions: " + "; ".join(report["assumptions"]))
