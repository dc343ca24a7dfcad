"""`review simulate FILE`: replay labelled (confidence, correct) rows through queue policies.

Answers "what would this policy have done to last month's traffic?" before it goes live:
per policy the share auto-approved, the items left to humans and the errors that slipped
through. The replay itself is ``review.adaptive.simulation.simulate``; this module only builds the
policies from options (and optionally from a queue in the database) and prints the figures.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from typing import Any

import click
from flask.cli import with_appcontext

from review.adaptive import scenarios
from review.adaptive.simulation import (
    AdaptivePolicy,
    FixedPolicy,
    Policy,
    SimResult,
    load_labelled,
    simulate,
)
from review.core.db import get_session
from review.core.queues import queue_by_slug

_OPEN_UNIT = click.FloatRange(0, 1, min_open=True, max_open=True)


def build_policies(max_error_rates: tuple[float, ...], thresholds: tuple[float, ...],
                   confidence_level: float, audit_rate: float,
                   recompute_every: int) -> dict[str, Policy]:
    """Adaptive policies first, then the fixed baselines; repeated values collapse."""
    policies: dict[str, Policy] = {}
    for rate in max_error_rates:
        policies[f"adaptive@{rate:g}"] = AdaptivePolicy(rate, confidence_level, audit_rate,
                                                        recompute_every)
    for t in thresholds:
        policies[f"fixed@{t:g}"] = FixedPolicy(t, audit_rate)
    return policies


def queue_policy(slug: str, recompute_every: int) -> tuple[str, Policy]:
    """The queue's live policy as the replay understands it (thresholds and audits only:
    checks, rollout stages and the breaker are not simulated)."""
    queue = queue_by_slug(get_session(), slug)
    if queue is None:
        raise click.UsageError(f"no queue {slug!r}")
    if queue.max_error_rate is not None:
        return (f"queue {slug} (adaptive@{queue.max_error_rate:g})",
                AdaptivePolicy(queue.max_error_rate, queue.confidence_level, queue.audit_rate,
                               recompute_every))
    return (f"queue {slug} (fixed@{queue.auto_approve_at:g})",
            FixedPolicy(queue.auto_approve_at, queue.audit_rate))


def scenario_figures(seed: int = 0, runs: int = 20) -> dict[str, Any]:
    """The issue-15 figures on labelled synthetic streams (each repeated over seeds)."""
    updates = [scenarios.silent_update(seed + k) for k in range(runs)]
    steady = scenarios.steady(runs=runs)
    jump, line = scenarios.backlog(True, seed=seed), scenarios.backlog(False, seed=seed)
    return {
        "silent_update": {
            "runs": runs, "target": 0.02,
            "max_wrong_auto_after_switch": max(r.wrong_auto_after_switch for r in updates),
            "max_detection_delay": max((r.detected_after for r in updates
                                        if r.detected_after is not None), default=None),
            "runs_under_target": sum(r.escaped_rate < 0.02 for r in updates),
            "max_escaped_rate": max(r.escaped_rate for r in updates)},
        "backlog": {"backlog_items": 1500, "window": 100,
                    "audits_jump": asdict(jump), "audits_wait_in_line": asdict(line)},
        "steady": {**asdict(steady), "share_of_oracle": steady.mean_auto_share
                   / steady.mean_oracle_share if steady.mean_oracle_share else 0.0},
    }


def format_scenarios(f: dict[str, Any]) -> str:
    s, b, st = f["silent_update"], f["backlog"], f["steady"]
    return "\n".join([
        f"silent update ({s['runs']} runs, 97% -> 80% accurate, confidences inflated, same "
        f"version): detected within {s['max_detection_delay']} items, at most "
        f"{s['max_wrong_auto_after_switch']} wrong automatic approvals after the switch, "
        f"escaped error under the {s['target']:.0%} target in {s['runs_under_target']}/"
        f"{s['runs']} runs (worst {s['max_escaped_rate']:.2%})",
        f"backlog of {b['backlog_items']} then 30% errors: audits jump the queue -> breaker "
        f"tripped after {b['audits_jump']['audited_after_injection']} audited decisions "
        f"({b['audits_jump']['reviewed_after_injection']} reviewed); audits in line -> "
        f"{b['audits_wait_in_line']['audited_after_injection']} audited "
        f"({b['audits_wait_in_line']['reviewed_after_injection']} reviewed)",
        f"steady model, 2% target ({st['runs']} runs): escaped under target in "
        f"{st['under_target']}/{st['runs']}; automatic share {st['mean_auto_share']:.1%} vs "
        f"oracle {st['mean_oracle_share']:.1%} ({st['share_of_oracle']:.0%} of the oracle's)",
    ])


def _threshold(value: float | None) -> str:
    return "none" if value is None else f"{value:g}"


def format_table(results: dict[str, SimResult]) -> str:
    header = ("policy", "auto-approved", "share", "human", "escaped", "escaped rate",
              "final threshold")
    rows = [(name, str(r.auto_approved), f"{r.auto_share:.1%}", str(r.human),
             str(r.escaped_errors), f"{r.escaped_rate:.2%}", _threshold(r.final_threshold))
            for name, r in results.items()]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    # Names read left-aligned, figures right-aligned so digits line up.
    return "\n".join("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                               for i, (cell, w) in enumerate(zip(row, widths, strict=True)))
                     for row in [header, *rows])


def as_json(path: str, seed: int, policies: dict[str, Policy],
            results: dict[str, SimResult]) -> dict[str, Any]:
    total = next(iter(results.values())).total
    return {"file": path, "rows": total, "seed": seed, "policies": [
        {"name": name, "kind": "adaptive" if isinstance(policy, AdaptivePolicy) else "fixed",
         "params": asdict(policy), **asdict(results[name])}
        for name, policy in policies.items()]}


@click.command("simulate")
@click.argument("path", metavar="FILE", required=False,
                type=click.Path(exists=True, dir_okay=False, allow_dash=False))
@click.option("--scenarios", is_flag=True,
              help="Run the built-in labelled scenarios instead of FILE: silent update, "
                   "backlog, steady model against its oracle (review/adaptive/scenarios.py).")
@click.option("--max-error-rate", "max_error_rates", type=_OPEN_UNIT, multiple=True,
              default=(0.02,), show_default=True,
              help="An adaptive policy with this target error rate (repeatable).")
@click.option("--confidence-level", type=_OPEN_UNIT, default=0.95, show_default=True,
              help="Of the adaptive policies' error bound.")
@click.option("--auto-approve-at", "thresholds", type=click.FloatRange(0, 1), multiple=True,
              default=(0.8, 0.9), show_default=True,
              help="A fixed-threshold baseline (repeatable).")
@click.option("--audit-rate", type=click.FloatRange(0, 1), default=0.05, show_default=True,
              help="Share of would-be auto-approvals sent to humans anyway.")
@click.option("--recompute-every", type=click.IntRange(min=1), default=100, show_default=True,
              help="Rows between adaptive threshold recomputations.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the audit draws (shared by every policy).")
@click.option("--queue", "queue_slug", metavar="SLUG",
              help="Also replay this queue's current policy from the database.")
@click.option("--json", "json_output", is_flag=True, help="Machine-readable output.")
@with_appcontext
def simulate_command(path: str | None, scenarios: bool, max_error_rates: tuple[float, ...],
                     confidence_level: float, thresholds: tuple[float, ...],
                     audit_rate: float, recompute_every: int, seed: int,
                     queue_slug: str | None, json_output: bool) -> None:
    """Replay FILE, a labelled CSV (header confidence,correct) or JSONL, through policies.

    Rows are replayed in file order, as traffic would arrive. For each policy: items
    auto-approved (and their share), human workload (everything else: reviews and audits),
    escaped errors (auto-approved items that were wrong, and their rate among the
    auto-approved) and the threshold in force at the end. Adaptive policies start with no
    threshold and learn from the rows humans saw.
    """
    if scenarios:
        figures = scenario_figures(seed)
        click.echo(json.dumps(figures, indent=2) if json_output else format_scenarios(figures))
        return
    if path is None:
        raise click.UsageError("give a labelled FILE, or --scenarios")
    try:
        rows = load_labelled(path)
    except UnicodeDecodeError as exc:
        raise click.ClickException(f"{path}: not UTF-8 text (byte {exc.start})") from exc
    except (ValueError, OSError) as exc:
        raise click.ClickException(f"{path}: {exc}") from exc
    if not rows:
        raise click.ClickException(f"{path}: no labelled rows")
    policies = build_policies(max_error_rates, thresholds, confidence_level, audit_rate,
                              recompute_every)
    if queue_slug:
        name, policy = queue_policy(queue_slug, recompute_every)
        policies[name] = policy
    with click.progressbar(length=len(rows) * len(policies), label="replaying",
                           file=sys.stderr, show_pos=True) as bar:
        results = simulate(rows, policies, seed=seed, progress=bar.update)
    if json_output:
        click.echo(json.dumps(as_json(path, seed, policies, results), indent=2))
        return
    click.echo(f"{len(rows)} rows from {path}, seed {seed}")
    click.echo(format_table(results))
