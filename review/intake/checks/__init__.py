"""Secondary checks for items the router could not decide on by confidence alone.

`run_checker(config, item)` is the entry point; the rest is exported for
workers and tests that build inputs or call one checker directly.
"""

from __future__ import annotations

from review.intake.checks.base import VERDICTS, CheckInput, CheckResult, Verdict
from review.intake.checks.builtin import consistency, grounding, policy, schema
from review.intake.checks.httpcheck import SECRET_HEADER, http, parse_answer
from review.intake.checks.runner import CHECKERS, run_checker

__all__ = [
    "CHECKERS",
    "SECRET_HEADER",
    "VERDICTS",
    "CheckInput",
    "CheckResult",
    "Verdict",
    "consistency",
    "grounding",
    "http",
    "parse_answer",
    "policy",
    "run_checker",
    "schema",
]
