"""Fallback checkers and a circuit breaker on the judge itself.

A checker config may name a `fallback` (another checker config) used when the primary
errors or times out (verdict "error"), and a judge endpoint that keeps failing is skipped
for a cool-down: after `failure_threshold` consecutive errors (default 3) the primary is
not called for `cooldown_seconds` (default 60) and the fallback answers at once. Both are
recorded on the item: the result's checker name reads "primary>fallback" and its reason
says why the fallback answered.

Judge health lives behind `JudgeHealth`; the worker passes a Redis-backed store so every
worker process shares it (review/intake/secondary_check.py); the default in-process store
serves tests and single-process use.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any, Protocol

from review.intake.checks.base import CheckResult, clip

DEFAULT_FAILURES = 3
DEFAULT_COOLDOWN = 60.0


class JudgeHealth(Protocol):
    def cooling_until(self, key: str) -> float:
        """Unix time until which the judge is skipped (0: not cooling)."""

    def record(self, key: str, ok: bool, failure_threshold: int, cooldown: float) -> None:
        """Count a success (resets) or failure (may start a cool-down)."""


class MemoryHealth:
    """Judge health in this process only."""

    def __init__(self) -> None:
        self.failures: dict[str, int] = {}
        self.until: dict[str, float] = {}

    def cooling_until(self, key: str) -> float:
        return self.until.get(key, 0.0)

    def record(self, key: str, ok: bool, failure_threshold: int, cooldown: float) -> None:
        if ok:
            self.failures.pop(key, None)
            return
        self.failures[key] = self.failures.get(key, 0) + 1
        if self.failures[key] >= failure_threshold:
            self.until[key] = time.time() + cooldown
            self.failures[key] = 0


PROCESS_HEALTH = MemoryHealth()


def judge_key(config: dict[str, Any]) -> str:
    """One endpoint's identity: type and URL (or model) of the checker."""
    where = config.get("url") or config.get("base_url") or ""
    return f"{config.get('type')}|{where}|{config.get('model', '')}"[:300]


def split_options(config: dict[str, Any]) -> tuple[dict[str, Any], Any, int, float]:
    """(the checker config without chain options, fallback, failure threshold, cooldown)."""
    inner = {k: v for k, v in config.items()
             if k not in ("fallback", "failure_threshold", "cooldown_seconds")}
    failures = config.get("failure_threshold", DEFAULT_FAILURES)
    cooldown = config.get("cooldown_seconds", DEFAULT_COOLDOWN)
    if isinstance(failures, bool) or not isinstance(failures, int) or failures < 1:
        raise ValueError("failure_threshold must be a positive integer")
    if isinstance(cooldown, bool) or not isinstance(cooldown, int | float) or cooldown < 0:
        raise ValueError("cooldown_seconds must be a non-negative number")
    return inner, config.get("fallback"), failures, float(cooldown)


def with_fallback(primary: CheckResult | None, fallback: CheckResult, why: str) -> CheckResult:
    """The fallback's verdict, named and explained as such."""
    name = f"{primary.checker if primary else 'skipped'}>{fallback.checker}"
    reason = f"{why}; fallback {fallback.checker}: {fallback.verdict}"
    if fallback.reason:
        reason += f" ({clip(fallback.reason, 300)})"
    return replace(fallback, checker=name[:40], reason=reason)
