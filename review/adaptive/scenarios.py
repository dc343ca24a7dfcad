"""Labelled synthetic streams replayed through the live routing statistics (`review simulate
--scenario`): the silent update, the backlog, the steady model against its oracle.

In-process and fast: the same pure pieces the router and the learner use (the threshold
choice and its bound, the sequential shift detector, the breaker's scan, the sha256 audit
sampling) on streams with known ground truth, so each figure the issue asks for is
measured, not argued. Simplifications, stated: humans decide an item the moment it
reaches them unless a backlog is modelled; checks are not simulated; the learner
recomputes every `recompute_every` items.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass

from review.adaptive.shift import new_state, observe
from review.adaptive.thresholds import breaker_scan, choose_threshold

Row = tuple[float, bool, int]
"""(confidence, correct, output length)."""


def healthy(rng: random.Random) -> Row:
    """A spread, roughly calibrated model: ~97% accurate overall."""
    confidence = rng.uniform(0.5, 1.0)
    error = 0.002 if confidence >= 0.9 else (0.02 if confidence >= 0.8 else 0.08)
    return round(confidence, 4), rng.random() >= error, int(rng.lognormvariate(4, 0.4))


def silently_updated(rng: random.Random) -> Row:
    """The replacement behind the same version string: inflated confidences, ~80% accurate."""
    return (round(rng.uniform(0.97, 1.0), 4), rng.random() >= 0.2,
            int(rng.lognormvariate(4, 0.4)))


@dataclass
class StreamResult:
    items: int
    auto: int
    escaped: int
    wrong_auto_after_switch: int
    detected_after: int | None  # items after the switch until the detector alarmed
    final_threshold: float | None

    @property
    def escaped_rate(self) -> float:
        return self.escaped / self.auto if self.auto else 0.0


def run_stream(rows: list[Row], target: float, audit_rate: float = 0.05,
               switch_at: int | None = None, recompute_every: int = 100,
               seed: int = 0) -> StreamResult:
    """One version's stream through detector, learner and router, humans deciding at once."""
    rng = random.Random(seed)
    state = new_state()
    evidence: list[tuple[float, bool]] = []
    threshold: float | None = None
    auto = escaped = wrong_after = 0
    detected: int | None = None
    for index, (confidence, correct, length) in enumerate(rows):
        if observe(state, confidence, length) is not None:
            state, threshold, evidence = new_state(), None, []  # withdraw, restart evidence
            if switch_at is not None and index >= switch_at and detected is None:
                detected = index - switch_at + 1
        audited = rng.random() < audit_rate
        if threshold is not None and confidence >= threshold and not audited:
            auto += 1
            escaped += not correct
            wrong_after += (not correct) and switch_at is not None and index >= switch_at
        else:
            evidence.append((confidence, not correct))
        if (index + 1) % recompute_every == 0:
            threshold = choose_threshold(evidence[-5000:], target).threshold
    return StreamResult(len(rows), auto, escaped, wrong_after, detected, threshold)


def silent_update(seed: int = 0, before: int = 3000, after: int = 2000,
                  target: float = 0.02) -> StreamResult:
    rng = random.Random(seed)
    rows = [healthy(rng) for _ in range(before)] + [silently_updated(rng)
                                                    for _ in range(after)]
    return run_stream(rows, target, switch_at=before, seed=seed)


def oracle_share(rows: list[Row], target: float) -> float:
    """Share of items at/above the lowest grid threshold with <= target empirical error."""
    best = 0.0
    for t in (k / 100 for k in range(99, 49, -1)):
        region = [correct for confidence, correct, _ in rows if confidence >= t]
        if region and region.count(False) / len(region) <= target:
            best = len(region) / len(rows)
    return best


@dataclass
class SteadyResult:
    runs: int
    under_target: int
    mean_auto_share: float
    mean_oracle_share: float


def steady(runs: int = 40, items: int = 5000, target: float = 0.02) -> SteadyResult:
    under = 0
    shares, oracles = [], []
    for seed in range(runs):
        rng = random.Random(10_000 + seed)
        rows = [healthy(rng) for _ in range(items)]
        result = run_stream(rows, target, seed=seed)
        under += result.escaped_rate < target
        shares.append(result.auto / items)
        oracles.append(oracle_share(rows, target))
    return SteadyResult(runs, under, sum(shares) / runs, sum(oracles) / runs)


@dataclass
class BacklogResult:
    audits_jump: bool
    tripped: bool
    audited_after_injection: int  # audited decisions humans made before the trip
    reviewed_after_injection: int  # all human decisions before the trip


def backlog(audits_jump: bool = True, backlog_items: int = 1500, window: int = 100,
            target: float = 0.02, audit_rate: float = 0.05, threshold: float = 0.9,
            seed: int = 0, arrivals: int = 6000) -> BacklogResult:
    """A queue with `backlog_items` waiting when the model starts failing (30% errors at
    every confidence); one reviewer decides one item per arriving item. Audit samples
    either jump the queue (priority 100, as the router now sets) or wait in line."""
    rng = random.Random(seed)
    line: deque[tuple[bool, bool]] = deque((False, False) for _ in range(backlog_items))
    jumped: deque[bool] = deque()  # audits at priority 100: decided before the line
    decided_audits: list[bool] = []  # newest last
    audited = reviewed = 0
    for _ in range(arrivals):
        confidence = rng.uniform(0.5, 1.0)
        wrong = rng.random() < 0.3
        if confidence >= threshold and rng.random() < audit_rate:
            (jumped.append(wrong) if audits_jump else line.append((True, wrong)))
        elif confidence < threshold:
            line.append((False, wrong))
        is_audit, outcome = (True, jumped.popleft()) if jumped else (
            line.popleft() if line else (False, False))
        reviewed += 1
        if is_audit:
            decided_audits.append(outcome)
            audited += 1
            newest_first = decided_audits[::-1][:window]
            if breaker_scan(newest_first, target, 0.95, min_samples=20).trip:
                return BacklogResult(audits_jump, True, audited, reviewed)
    return BacklogResult(audits_jump, False, audited, reviewed)
