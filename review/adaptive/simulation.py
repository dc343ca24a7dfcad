"""Offline replay of labelled traffic through fixed and adaptive policies (`review simulate`).

Uses the same threshold choice as the live learner (`review.adaptive.thresholds.choose_threshold`),
so a simulated policy and the router it previews cannot disagree on the statistics.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from review.adaptive.thresholds import choose_threshold


@dataclass(frozen=True)
class FixedPolicy:
    """Hand-set threshold; ``audit_rate`` of would-be auto-approvals still go to humans."""

    auto_approve_at: float
    audit_rate: float = 0.0


@dataclass(frozen=True)
class AdaptivePolicy:
    """``choose_threshold`` re-run on the evidence so far every ``recompute_every`` rows."""

    max_error_rate: float
    confidence_level: float = 0.95
    audit_rate: float = 0.05
    recompute_every: int = 100
    min_evidence: int = 30


Policy = FixedPolicy | AdaptivePolicy


@dataclass(frozen=True)
class SimResult:
    total: int
    auto_approved: int
    human: int
    escaped_errors: int
    auto_share: float
    escaped_rate: float
    final_threshold: float | None


_PROGRESS_EVERY = 1000


def simulate(rows: Iterable[tuple[float, bool]], policies: dict[str, Policy],
             seed: int = 0, progress: Callable[[int], None] | None = None,
             ) -> dict[str, SimResult]:
    """Replay labelled (confidence, correct) rows in order under each policy.

    Every policy sees the same audit draw per row, so differences come from thresholds, not
    sampling luck. Adaptive policies start with no threshold (everything to humans), learn
    from every human-reviewed row (below threshold or audit-sampled) and recompute every
    ``recompute_every`` rows, as the live router would. Rows just under the threshold are all
    reviewed while rows above it are only audited, so a lower candidate's sample over-weights
    the band right below the live threshold. When accuracy rises with confidence that band is
    the worst part of the region, so the estimate errs high: the threshold descends slowly
    (in tests it settled a few grid points above the oracle) but does not overshoot.

    ``progress(n)`` is told of rows replayed (len(rows) per policy in all), in steps of
    ``_PROGRESS_EVERY`` so a progress bar costs nothing next to the replay itself.
    """
    data = list(rows)
    draws = random.Random(seed)
    audit_u = [draws.random() for _ in data]
    out: dict[str, SimResult] = {}
    for name, policy in policies.items():
        adaptive = isinstance(policy, AdaptivePolicy)
        threshold = None if adaptive else policy.auto_approve_at
        evidence: list[tuple[float, bool]] = []
        auto = escaped = 0
        for idx, (conf, correct) in enumerate(data, start=1):
            audited = audit_u[idx - 1] < policy.audit_rate
            if threshold is not None and conf >= threshold and not audited:
                auto += 1
                escaped += not correct
            elif adaptive:
                evidence.append((conf, not correct))
            if adaptive and idx % policy.recompute_every == 0:
                threshold = choose_threshold(evidence, policy.max_error_rate,
                                             policy.confidence_level, policy.min_evidence).threshold
            if progress is not None and idx % _PROGRESS_EVERY == 0:
                progress(_PROGRESS_EVERY)
        total = len(data)
        if progress is not None and total % _PROGRESS_EVERY:
            progress(total % _PROGRESS_EVERY)
        out[name] = SimResult(total, auto, total - auto, escaped, auto / total if total else 0.0,
                              escaped / auto if auto else 0.0, threshold)
    return out


_TRUE = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _parse_row(conf: Any, correct: Any, line: int) -> tuple[float, bool]:
    try:
        c = float(conf)
    except (TypeError, ValueError):
        raise ValueError(f"line {line}: confidence {conf!r} is not a number") from None
    if not 0.0 <= c <= 1.0:
        raise ValueError(f"line {line}: confidence {c} outside [0, 1]")
    if isinstance(correct, bool):
        return c, correct
    key = str(correct).strip().lower() if isinstance(correct, str | int) else None
    if key not in _TRUE:
        raise ValueError(f"line {line}: correct {correct!r} is not true/false/1/0/yes/no")
    return c, _TRUE[key]


def load_labelled(path: str | Path) -> list[tuple[float, bool]]:
    """Read (confidence, correct) rows from CSV (header with both columns) or JSONL."""
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    out: list[tuple[float, bool]] = []
    if p.suffix.lower() in (".jsonl", ".ndjson") or text.lstrip().startswith("{"):
        for line, raw in enumerate(text.splitlines(), start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ValueError(f"line {line}: invalid JSON ({exc.msg})") from None
            if not isinstance(obj, dict) or not {"confidence", "correct"} <= obj.keys():
                raise ValueError(f"line {line}: expected an object with confidence and correct")
            out.append(_parse_row(obj["confidence"], obj["correct"], line))
        return out
    reader = csv.DictReader(text.splitlines())
    if not {"confidence", "correct"} <= set(reader.fieldnames or ()):
        raise ValueError("line 1: CSV header must include confidence and correct")
    for row in reader:
        out.append(_parse_row(row["confidence"], row["correct"], reader.line_num))
    return out
