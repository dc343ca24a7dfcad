"""Adaptive auto-approve thresholds: exact bounds, threshold choice, breaker, rollout, drift.

Pure functions (no Flask, no database) so the router, workers and offline tools share one
implementation and the statistics can be tested exhaustively. An "error" is an item whose model
output a human rejected; the goal is to auto-approve as much as possible while an exact
Clopper-Pearson bound keeps the error rate of the auto-approved region under ``max_error_rate``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

Evidence = Iterable[tuple[float, bool]]
"""(model confidence, is_error) pairs from human reviews."""

DEFAULT_GRID: tuple[float, ...] = tuple(k / 100 for k in range(50, 100))
"""0.50, 0.51, ..., 0.99: the default candidate thresholds (see ``choose_threshold``)."""


# --- exact binomial bounds ---------------------------------------------------------------------
def _tail_sum(start: int, step: int, n: int, p: float) -> float:
    """Sum the pmf from ``start`` away from the mode (step -1 or +1) until terms stop mattering.

    Terms shrink monotonically on the tail side, so this stops after O(sqrt(n)) terms rather
    than n; the first term comes from log-gamma so nothing overflows for large n.
    """
    log_first = (math.lgamma(n + 1) - math.lgamma(start + 1) - math.lgamma(n - start + 1)
                 + start * math.log(p) + (n - start) * math.log1p(-p))
    term = math.exp(log_first)
    total, k = term, start
    odds = p / (1.0 - p)
    while term > total * 1e-18 and (k > 0 if step < 0 else k < n):
        term *= (k / (n - k + 1) / odds) if step < 0 else ((n - k) / (k + 1) * odds)
        k += step
        total += term
    return total


def _binom_cdf(x: int, n: int, p: float) -> float:
    """P(X <= x) for X ~ Binomial(n, p), summing whichever tail avoids the mode."""
    if x < 0 or p >= 1.0:
        return 0.0 if x < n else 1.0
    if x >= n or p <= 0.0:
        return 1.0
    if x < n * p:
        return min(1.0, _tail_sum(x, -1, n, p))
    return max(0.0, 1.0 - _tail_sum(x + 1, +1, n, p))


def _check_counts(errors: int, n: int, confidence: float) -> None:
    if n < 0 or errors < 0 or errors > n:
        raise ValueError(f"need 0 <= errors <= n, got errors={errors}, n={n}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def _bisect_decreasing(f: Callable[[float], float], target: float) -> float:
    """p in [0, 1] with f(p) == target for decreasing f, to ~1e-15 (50 halvings)."""
    lo, hi = 0.0, 1.0
    while hi - lo > 1e-15:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if f(mid) > target else (lo, mid)
    return (lo + hi) / 2


def clopper_pearson_upper(errors: int, n: int, confidence: float = 0.95) -> float:
    """Exact one-sided upper bound p_U with P(X <= errors; n, p_U) = 1 - confidence.

    Exact rather than normal/Wilson because the interesting regime is a handful of errors in
    a few hundred items, where approximations undercover. Bounds are conservative (coverage
    >= ``confidence`` for every true rate), which is what an auto-approve gate needs.
    """
    _check_counts(errors, n, confidence)
    if n == 0 or errors == n:
        return 1.0
    alpha = 1.0 - confidence
    if errors == 0:
        return -math.expm1(math.log(alpha) / n)  # closed form 1 - alpha**(1/n)
    return _bisect_decreasing(lambda p: _binom_cdf(errors, n, p), alpha)


def clopper_pearson_lower(errors: int, n: int, confidence: float = 0.95) -> float:
    """Exact one-sided lower bound p_L with P(X >= errors; n, p_L) = 1 - confidence.

    Used by the circuit breaker: a lower bound above the target is evidence that the true
    error rate really is worse, not just an unlucky window.
    """
    _check_counts(errors, n, confidence)
    if n == 0 or errors == 0:
        return 0.0
    alpha = 1.0 - confidence
    if errors == n:
        return math.exp(math.log(alpha) / n)
    # P(X >= errors) = 1 - cdf(errors - 1) increases in p, so bisect its complement.
    return _bisect_decreasing(lambda p: _binom_cdf(errors - 1, n, p), 1.0 - alpha)


# --- threshold choice --------------------------------------------------------------------------
@dataclass(frozen=True)
class ThresholdChoice:
    """Counts and bound of the evidence at/above the threshold; with threshold None, of the
    first (highest) candidate tested, which failed, or of all evidence with ``upper_bound``
    None when no candidate had enough items to be tested."""

    threshold: float | None
    evidence_count: int
    errors: int
    upper_bound: float | None
    reason: str = ""


def observed_thresholds(evidence: Evidence) -> list[float]:
    """Distinct confidences in the evidence, for callers that accept the selection risk."""
    return sorted({c for c, _ in evidence})


def zero_error_sample_size(max_error_rate: float, confidence_level: float = 0.95) -> int:
    """Smallest n whose exact upper bound with zero errors is within the target (149 for
    2% at 95%): no bound-based decision can pass on fewer samples."""
    alpha = 1.0 - confidence_level
    return math.ceil(math.log(alpha) / math.log1p(-max_error_rate) - 1e-9)


def _prepare(evidence: Iterable[tuple[Any, ...]]) -> list[tuple[float, bool, bool | None]]:
    rows = [(float(r[0]), bool(r[1]), (None if r[2] is None else bool(r[2]))
             if len(r) > 2 else None) for r in evidence]
    bad = next((r[0] for r in rows if not 0.0 <= r[0] <= 1.0), None)  # also catches NaN
    if bad is not None:
        raise ValueError(f"confidence must be in [0, 1], got {bad}")
    return sorted(rows, key=lambda r: r[0], reverse=True)


def choose_threshold(evidence: Iterable[tuple[float, bool] | tuple[float, bool, bool | None]],
                     max_error_rate: float, confidence_level: float = 0.95,
                     min_evidence: int = 30, candidates: Iterable[float] | None = None,
                     check_band_from: float | None = None, gate_above: bool = False,
                     ) -> ThresholdChoice:
    """Lowest threshold whose exact upper error bound (items at/above it) is <= max_error_rate.

    Multiple comparisons: each candidate's bound holds with ``confidence_level`` on its own,
    but "take the lowest candidate that passes" gets one chance per candidate to be fooled by
    noise (an adversarial simulation missed the target in 11% of runs at a nominal 5%). Guards:
    (1) candidates default to the coarse grid 0.50..0.99, not every observed confidence;
    (2) fixed-sequence testing: candidates are tested from high to low and the sweep stops at
    the first failure, so the chance of accepting any threshold whose true error rate exceeds
    the target is at most 1 - confidence_level (to accept one, the first such candidate must
    pass). Candidates whose sample is below ``min_evidence`` or too small to pass even with
    zero errors are skipped; that depends only on confidences, never outcomes, so the order
    stays fixed in advance. Recomputing as evidence grows is repeated testing and erodes the
    guarantee somewhat; the circuit breaker is the backstop.

    The bound is about the evidence, so evidence should mirror traffic at each confidence
    (see ``review.adaptive.simulation.simulate`` for the bias of mixing full review with audits).
    O(n log n): one sort, one cumulative sweep with one binomial CDF per candidate; the
    bound is solved only for the reported candidate.

    Every automatic approval is inside the bound, not only the router's: evidence rows may
    carry a third element, whether the item passed the queue's check (None: not checked).
    For candidate t the automatic region is {c >= t, and with ``gate_above`` (checker scope
    "all") not failed by the check} plus {``check_band_from`` <= c < t and passed the check}.
    Unchecked rows above t count (conservative: errors a check would have caught still count
    against the bound). The threshold never goes below the lowest confidence with evidence:
    a band nobody has seen says nothing about its error rate.
    """
    if not 0.0 < max_error_rate < 1.0:
        raise ValueError(f"max_error_rate must be in (0, 1), got {max_error_rate}")
    if not 0.0 < confidence_level < 1.0:
        raise ValueError(f"confidence_level must be in (0, 1), got {confidence_level}")
    rows = _prepare(evidence)
    grid = sorted(set(DEFAULT_GRID if candidates is None else candidates), reverse=True)
    alpha = 1.0 - confidence_level
    # Smallest n at which zero errors could pass: (1 - target)**n <= alpha.
    start = max(min_evidence, zero_error_sample_size(max_error_rate, confidence_level))
    lowest = rows[-1][0] if rows else 1.0

    def in_band(row: tuple[float, bool, bool | None]) -> bool:
        return check_band_from is not None and row[2] is True and row[0] >= check_band_from

    band = [r for r in rows if in_band(r)]
    band_n, band_e = len(band), sum(e for _, e, _ in band)
    i = above_n = above_e = 0
    chosen: tuple[float, int, int] | None = None
    first_tested: tuple[int, int] | None = None
    for t in grid:
        if t < lowest:
            break
        while i < len(rows) and rows[i][0] >= t:
            row = rows[i]
            if in_band(row):
                band_n, band_e = band_n - 1, band_e - row[1]
            if not gate_above or row[2] is not False:
                above_n, above_e = above_n + 1, above_e + row[1]
            i += 1
        n, errors = above_n + band_n, above_e + band_e
        if n < start:
            continue
        first_tested = first_tested or (n, errors)
        # upper bound <= target  <=>  P(X <= errors; n, target) <= alpha  (CDF falls in p)
        if errors == n or _binom_cdf(errors, n, max_error_rate) > alpha:
            break
        chosen = (t, n, errors)
    if first_tested is None:
        return ThresholdChoice(None, len(rows), sum(r[1] for r in rows), None,
                               f"fewer than {start} items at/above every candidate")
    t, n, k = chosen or (None, *first_tested)
    ub = clopper_pearson_upper(k, n, confidence_level)
    return ThresholdChoice(t, n, k, ub, f"upper bound {ub:.4f} {'<=' if chosen else '>'} "
                           f"{max_error_rate}")


CHECKER_SCOPES = ("all", "ambiguous")
"""`checker.scope`: "all" (the default) gates every automatic approval on a check pass;
"ambiguous" checks only items between review_below and the threshold."""


def checker_scope(checker: dict[str, Any] | None) -> str:
    """The checker's scope; anything but "ambiguous" reads as the safe "all"."""
    return "ambiguous" if (checker or {}).get("scope") == "ambiguous" else "all"


def recovery_window(max_error_rate: float, confidence_level: float = 0.95,
                    window: int = 100, limit: int = 100_000) -> int:
    """Samples the breaker needs after a trip before fresh evidence can close it.

    A window of `breaker_window` can be too small to ever pass: at a 2% target even 0
    errors in 100 bound the rate at 2.95%. So the recovery window is the smallest n >=
    `window` in which a process running at half the target (floor(n * target / 2)
    errors) has its exact upper bound within the target: recovery is possible for a
    healthy model, not only for a perfect one. 2% at 95% gives 389 (3 errors allowed).
    """
    n = max(window, zero_error_sample_size(max_error_rate, confidence_level))
    while n < limit:
        errors = math.floor(n * max_error_rate / 2)
        if clopper_pearson_upper(errors, n, confidence_level) <= max_error_rate:
            return n
        n = max(n + 1, int(n * 1.02))
    return limit


# --- circuit breaker ---------------------------------------------------------------------------
@dataclass(frozen=True)
class BreakerVerdict:
    trip: bool
    errors: int
    n: int
    lower_bound: float
    reason: str


def breaker_should_trip(window: Sequence[bool], max_error_rate: float,
                        confidence_level: float = 0.95, min_samples: int = 20) -> BreakerVerdict:
    """Trip when a window of audited auto-approvals proves the error rate exceeds the target.

    Uses the LOWER bound so one unlucky error among healthy items does not halt automation.
    Below ``min_samples`` it trips only if the errors already seen would keep the lower bound
    above target even if every item needed to reach ``min_samples`` were correct, i.e. the
    errors alone decide it; a burst of errors is caught without waiting for a full window.
    """
    n, errors = len(window), sum(bool(e) for e in window)
    lower = clopper_pearson_lower(errors, n, confidence_level)
    if n >= min_samples:
        trip = lower > max_error_rate
        why = f"lower bound {lower:.4f} {'>' if trip else '<='} {max_error_rate} over {n} items"
    else:
        floor = clopper_pearson_lower(errors, min_samples, confidence_level)
        trip = floor > max_error_rate
        why = (f"{errors} errors in {n} (<{min_samples}) already exceed target"
               if trip else f"only {n} samples (<{min_samples}); errors do not decide it")
    return BreakerVerdict(trip, errors, n, lower, why)


def breaker_scan(newest_first: Sequence[bool], max_error_rate: float,
                 confidence_level: float = 0.95, min_samples: int = 20) -> BreakerVerdict:
    """``breaker_should_trip`` over the latest 20, 40, 80, ... samples and the whole window.

    A sudden degradation shows in the newest samples long before it outweighs a window
    full of healthy history, and the router may stop producing samples soon after (the
    learned threshold withdraws), so only looking at the whole window can miss it. A few
    nested tests instead of one raise the false-trip chance only slightly: each needs its
    exact lower bound above the target.
    """
    sizes, size = [], min_samples
    while size < len(newest_first):
        sizes.append(size)
        size *= 2
    sizes.append(len(newest_first))
    for size in sizes:
        verdict = breaker_should_trip(newest_first[:size], max_error_rate, confidence_level,
                                      min_samples)
        if verdict.trip:
            break
    return verdict


# --- staged rollout ----------------------------------------------------------------------------

ROLLOUT_STAGES: tuple[str, ...] = ("shadow", "5%", "10%", "25%", "50%", "100%")
"""Stage names as stored in config/DB; "shadow" computes thresholds but auto-approves nothing."""
_SHARES = {"shadow": 0.0, "5%": 0.05, "10%": 0.10, "25%": 0.25, "50%": 0.50, "100%": 1.0}


def live_share(stage: str) -> float:
    """Fraction of items that may be auto-approved at ``stage``."""
    if stage not in _SHARES:
        raise ValueError(f"unknown rollout stage {stage!r}; expected one of {ROLLOUT_STAGES}")
    return _SHARES[stage]


def in_live_share(item_id: str, share: float) -> bool:
    """Deterministic membership by sha256 of the id: stable across processes and restarts
    (unlike ``hash()``), and nested, so items live at 5% stay live at 10%."""
    digest = hashlib.sha256(item_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def next_stage(stage: str, choice: ThresholdChoice, breaker_tripped: bool) -> str:
    """One step per evaluation: back to shadow on a trip, hold without evidence, else advance.

    Call once per review period (not per item), so each stage accumulates fresh evidence.
    """
    live_share(stage)
    if breaker_tripped:
        return "shadow"
    if choice.threshold is None:
        return stage
    return ROLLOUT_STAGES[min(ROLLOUT_STAGES.index(stage) + 1, len(ROLLOUT_STAGES) - 1)]


# --- distribution shift ------------------------------------------------------------------------
def _histogram(values: Sequence[float], bins: int, eps: float) -> list[float]:
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, max(0, int(v * bins)))] += 1
    return [(c / len(values) + eps) / (1 + bins * eps) for c in counts]


def population_stability_index(expected: Sequence[float], actual: Sequence[float],
                               bins: int = 10, eps: float = 1e-4) -> float:
    """PSI over equal-width bins of [0, 1]; additive ``eps`` smoothing keeps empty bins finite.

    Sampling noise inflates PSI by about (bins - 1) * (1/len(expected) + 1/len(actual)), so
    small samples look shifted; ``shift_alert`` guards against that.
    """
    if not expected or not actual or bins < 1:
        raise ValueError("need non-empty samples and bins >= 1")
    e, a = _histogram(expected, bins, eps), _histogram(actual, bins, eps)
    return sum((ai - ei) * math.log(ai / ei) for ei, ai in zip(e, a, strict=True))


def ks_statistic(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sample Kolmogorov-Smirnov D = max |F_a - F_b| (ties stepped together)."""
    if not a or not b:
        raise ValueError("need non-empty samples")
    xs, ys = sorted(a), sorted(b)
    i = j = 0
    d = 0.0  # step past every copy of the next value in both samples, then compare CDFs
    while i < len(xs) and j < len(ys):
        v = min(xs[i], ys[j])
        while i < len(xs) and xs[i] == v:
            i += 1
        while j < len(ys) and ys[j] == v:
            j += 1
        d = max(d, abs(i / len(xs) - j / len(ys)))
    return d


def shift_alert(expected: Sequence[float], actual: Sequence[float], psi_threshold: float = 0.2,
                min_samples: int = 50) -> tuple[bool, float]:
    """(alert, psi): PSI above threshold AND a KS difference significant at 1%.

    The KS guard exists because at ~50 samples PSI of two draws from one distribution is
    routinely above 0.2; requiring KS significance keeps PSI's interpretable scale without
    paging on noise.
    """
    n, m = len(expected), len(actual)
    psi = population_stability_index(expected, actual) if n and m else 0.0
    if n < min_samples or m < min_samples:
        return False, psi
    ks_critical = 1.628 * math.sqrt((n + m) / (n * m))  # c(alpha=0.01)
    return psi > psi_threshold and ks_statistic(expected, actual) > ks_critical, psi
