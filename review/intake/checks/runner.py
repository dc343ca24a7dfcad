"""Run a queue's checker config against an item.

The one entry point the worker uses. It turns a config such as
{"type": "grounding", "threshold": 0.8} into a call, times it, and never
raises: a bad config or a crashing checker is a verdict of "error", so the
item goes to a human instead of the job dying.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from review.intake.checks import builtin
from review.intake.checks.base import CheckInput, CheckResult, Verdict, clip, sum_usage
from review.intake.checks.fallback import (
    PROCESS_HEALTH,
    JudgeHealth,
    judge_key,
    split_options,
    with_fallback,
)
from review.intake.checks.httpcheck import http
from review.intake.checks.llmjudge import llm

Checker = Callable[..., CheckResult]

CHECKERS: dict[str, Checker] = {
    "grounding": builtin.grounding,
    "consistency": builtin.consistency,
    "policy": builtin.policy,
    "schema": builtin.schema,
    "http": http,
    "llm": llm,
}
COMPOSITE = "all"
# Keys of a checker config that are about routing, not options of the checker itself.
ROUTING_KEYS = frozenset({"type", "scope"})
MAX_DEPTH = 3
MAX_PARTS = 10
NAME_CHARS = 40  # fits items.check_checker


def run_checker(config: dict[str, Any], item: CheckInput,
                health: JudgeHealth | None = None) -> CheckResult:
    """Run the checker `config` describes on `item`; always returns a CheckResult.

    With a `fallback` the fallback answers when the primary errors, or at once while the
    primary is cooling down after repeated failures (review/intake/checks/fallback.py)."""
    if not isinstance(config, dict) or "fallback" not in config:
        return _run(config, item, depth=0)
    started = time.perf_counter()
    try:
        primary_config, fallback, failures, cooldown = split_options(config)
    except ValueError as exc:
        return CheckResult(_label(config), "error", None, str(exc))
    health = health or PROCESS_HEALTH
    key = judge_key(primary_config)
    until = health.cooling_until(key)
    if until > time.time():
        result = with_fallback(None, _run(fallback, item, depth=1),
                               f"{_label(config)} skipped: cooling down after {failures} "
                               "consecutive failures")
    else:
        primary = _run(primary_config, item, depth=0)
        health.record(key, primary.verdict != "error", failures, cooldown)
        if primary.verdict != "error":
            return primary
        result = with_fallback(primary, _run(fallback, item, depth=1),
                               f"{primary.checker} error: {clip(primary.reason, 200)}")
    return replace(result, latency_ms=round((time.perf_counter() - started) * 1000, 3))


def _label(config: Any) -> str:
    kind = config.get("type") if isinstance(config, dict) else None
    return clip(kind, NAME_CHARS) if isinstance(kind, str) and kind.strip() else "unknown"


def _run(config: Any, item: CheckInput, depth: int) -> CheckResult:
    started = time.perf_counter()
    try:
        result = _dispatch(config, item, depth)
    except Exception as exc:  # the promise: a checker problem is a verdict, not a crash
        result = CheckResult(_label(config), "error", None,
                             f"{type(exc).__name__}: {clip(str(exc), 300)}")
    elapsed_ms = (time.perf_counter() - started) * 1000
    return replace(result, latency_ms=round(elapsed_ms, 3))


def _dispatch(config: Any, item: CheckInput, depth: int) -> CheckResult:
    if not isinstance(config, dict):
        raise ValueError(f"checker config must be an object, not {type(config).__name__}")
    kind = config.get("type")
    options = {k: v for k, v in config.items() if k not in ROUTING_KEYS}
    if kind == COMPOSITE:
        return _all(options, item, depth)
    checker = CHECKERS.get(kind) if isinstance(kind, str) else None
    if checker is None:
        known = ", ".join(sorted([*CHECKERS, COMPOSITE]))
        return CheckResult(_label(config), "error", None,
                           f"unknown checker type {kind!r} (known: {known})")
    _check_options(kind, checker, options)
    return checker(item, **options)


def _check_options(kind: str, checker: Checker, options: dict[str, Any]) -> None:
    """Name the bad option instead of surfacing a TypeError from the call."""
    params = {name: p for name, p in inspect.signature(checker).parameters.items()
              if p.kind is inspect.Parameter.KEYWORD_ONLY}
    unknown = sorted(set(options) - set(params))
    if unknown:
        raise ValueError(f"unknown option(s) for {kind}: {', '.join(unknown)}")
    missing = [n for n, p in params.items() if p.default is p.empty and n not in options]
    if missing:
        raise ValueError(f"{kind} checker needs {', '.join(missing)}")


def _all(options: dict[str, Any], item: CheckInput, depth: int) -> CheckResult:
    """Every part must pass; any fail fails, else any error errors, else unsure."""
    parts = options.get("checks")
    unknown = sorted(set(options) - {"checks"})
    if unknown:
        raise ValueError(f"unknown option(s) for all: {', '.join(unknown)}")
    if not isinstance(parts, list) or not parts:
        raise ValueError("all needs a non-empty list of checks")
    if len(parts) > MAX_PARTS:
        raise ValueError(f"all takes at most {MAX_PARTS} checks")
    if depth >= MAX_DEPTH:
        raise ValueError(f"checks nested deeper than {MAX_DEPTH} levels")
    results = [_run(part, item, depth + 1) for part in parts]
    verdicts = {r.verdict for r in results}
    verdict: Verdict
    if "fail" in verdicts:
        verdict = "fail"
    elif "error" in verdicts:
        verdict = "error"
    elif verdicts == {"pass"}:
        verdict = "pass"
    else:
        verdict = "unsure"
    scores = [r.score for r in results if r.score is not None]
    reason = "; ".join(f"{r.checker}: {r.verdict}" + (f" ({r.reason})" if r.reason else "")
                       for r in results)
    return CheckResult(COMPOSITE, verdict, min(scores) if scores else None, reason,
                       usage=sum_usage([r.usage for r in results]))
