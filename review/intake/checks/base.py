"""The data a checker gets and gives back.

Kept free of Flask and the database so checkers are plain functions that a
worker, a CLI or a test can call the same way.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Verdict = Literal["pass", "fail", "unsure", "error"]
VERDICTS: tuple[str, ...] = ("pass", "fail", "unsure", "error")
REASON_CHARS = 2000


@dataclass(frozen=True)
class CheckResult:
    """One checker's answer about one item; immutable so it can be shared and logged."""

    checker: str
    verdict: Verdict
    score: float | None = None
    reason: str = ""
    latency_ms: float = 0.0
    # The checker's own usage when it reports it (an LLM judge's tokens and cost):
    # {input_tokens, output_tokens, cost}, each optional; see `clean_usage`.
    usage: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        # Fail loudly at construction: a malformed result must never be stored.
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, not {self.verdict!r}")
        if self.score is not None:
            if isinstance(self.score, bool) or not isinstance(self.score, int | float):
                raise ValueError(f"score must be a number or None, not {self.score!r}")
            if not math.isfinite(self.score) or not 0.0 <= self.score <= 1.0:
                raise ValueError(f"score must be within 0..1, not {self.score!r}")
            object.__setattr__(self, "score", float(self.score))
        if not isinstance(self.reason, str):
            raise ValueError("reason must be a string")
        if len(self.reason) > REASON_CHARS:
            object.__setattr__(self, "reason", self.reason[: REASON_CHARS - 1] + "…")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the shape stored on the item and shown in the API); `usage`
        only when the checker reported one."""
        data = asdict(self)
        if data["usage"] is None:
            del data["usage"]
        return data


@dataclass(kw_only=True)
class CheckInput:
    """Everything a checker may look at: the item plus its queue's output rules."""

    item_id: str
    output: Any
    input: Any = None
    context: list[Any] = field(default_factory=list)
    confidence: float | None = None
    model: dict[str, Any] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    output_schema: dict[str, Any] | None = None
    blocked_phrases: list[str] = field(default_factory=list)
    max_output_chars: int | None = None

    def payload(self) -> dict[str, Any]:
        """The item as sent to an external checker (queue rules stay private)."""
        return {
            "item_id": self.item_id,
            "input": self.input,
            "output": self.output,
            "context": self.context,
            "confidence": self.confidence,
            "model": self.model,
            "metadata": self.metadata,
        }


USAGE_LIMITS = {"input_tokens": 10**12, "output_tokens": 10**12, "cost": 10**9}


def clean_usage(raw: Any) -> dict[str, Any] | None:
    """The valid parts of a reported usage object (non-negative, bounded numbers; tokens
    integers); None when nothing valid is left. A bad usage never fails a check: the
    verdict is what matters, the accounting is best effort."""
    if not isinstance(raw, dict):
        return None
    usage: dict[str, Any] = {}
    for name, limit in USAGE_LIMITS.items():
        value = raw.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if name != "cost" and not isinstance(value, int):
            continue
        if math.isfinite(value) and 0 <= value <= limit:
            usage[name] = value
    return usage or None


def sum_usage(parts: list[dict[str, Any] | None]) -> dict[str, Any] | None:
    """A composite check's usage: the sum of its parts' (None when none reported any)."""
    total: dict[str, Any] = {}
    for usage in parts:
        for name, value in (usage or {}).items():
            total[name] = total.get(name, 0) + value
    return total or None


def usage_columns(usage: dict[str, Any] | None) -> dict[str, Any]:
    """The item columns a check's usage is stored in (migration 0010)."""
    usage = usage or {}
    return {"check_input_tokens": usage.get("input_tokens"),
            "check_output_tokens": usage.get("output_tokens"),
            "check_cost": usage.get("cost")}


def grade(score: float, *, threshold: float, fail_below: float) -> Verdict:
    """pass at or above `threshold`, fail below `fail_below`, unsure in between."""
    if score >= threshold:
        return "pass"
    if score < fail_below:
        return "fail"
    return "unsure"


def check_thresholds(threshold: float, fail_below: float) -> None:
    """Reject thresholds that would make the verdict meaningless."""
    for name, value in (("threshold", threshold), ("fail_below", fail_below)):
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be a number within 0..1, not {value!r}")
    if fail_below > threshold:
        raise ValueError(f"fail_below {fail_below:g} is above threshold {threshold:g}")


def clip(text: str, limit: int = 80) -> str:
    """One line of at most `limit` characters, for quoting in a reason."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
