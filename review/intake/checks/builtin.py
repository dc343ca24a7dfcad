"""Built-in checkers: cheap, local, deterministic second opinions.

Each is a plain function `(item, **thresholds) -> CheckResult` so a queue's
checker config maps straight onto keyword arguments. They leave latency to the
runner, which times every checker the same way. `grounding` lives in its own module
(it is language-aware) and is re-exported here with the others.
"""

from __future__ import annotations

from statistics import mean
from typing import Any

from review.intake.checks.base import CheckInput, CheckResult, check_thresholds, grade
from review.intake.checks.grounding import grounding, source_text  # noqa: F401  (re-exported)
from review.intake.checks.language import blocked_hits
from review.intake.checks.text import content_tokens, jaccard
from review.intake.validation import output_text, validate_output


def consistency(
    item: CheckInput,
    *,
    threshold: float = 0.6,
    fail_below: float = 0.3,
    max_samples: int = 20,
) -> CheckResult:
    """Mean word-set agreement (Jaccard) of metadata.samples with the output.

    Alternative generations that say something else suggest the model was
    guessing; the score is the mean agreement over at most `max_samples`.
    """
    check_thresholds(threshold, fail_below)
    if isinstance(max_samples, bool) or not isinstance(max_samples, int) or max_samples < 1:
        raise ValueError(f"max_samples must be a positive integer, not {max_samples!r}")
    samples = item.metadata.get("samples") if isinstance(item.metadata, dict) else None
    if not isinstance(samples, list):
        return CheckResult("consistency", "unsure", None, "no samples in metadata.samples")
    texts = [output_text(s) for s in samples[:max_samples] if s is not None]
    if not texts:
        return CheckResult("consistency", "unsure", None, "no samples in metadata.samples")
    words = set(content_tokens(output_text(item.output)))
    agreements = [jaccard(words, set(content_tokens(t))) for t in texts]
    score = mean(agreements)
    reason = (f"mean agreement {score:.2f} with {len(texts)} "
              f"sample{'s' if len(texts) != 1 else ''} (lowest {min(agreements):.2f})")
    return CheckResult("consistency", grade(score, threshold=threshold, fail_below=fail_below),
                       score, reason)


def _rules_result(name: str, problems: list[str]) -> CheckResult:
    if problems:
        return CheckResult(name, "fail", 0.0, "; ".join(problems))
    return CheckResult(name, "pass", 1.0, "no problems found")


def policy(
    item: CheckInput,
    *,
    blocked_phrases: list[str] | None = None,
    max_output_chars: int | None = None,
) -> CheckResult:
    """Blocked phrases and length: the queue's rules plus any stricter ones in the config.

    With no rule at all the answer is unsure, not pass: nothing was checked.
    """
    if blocked_phrases is not None and not (
            isinstance(blocked_phrases, list) and all(isinstance(p, str) for p in blocked_phrases)):
        raise ValueError("blocked_phrases must be a list of strings")
    phrases = list(item.blocked_phrases or []) + list(blocked_phrases or [])
    limits = [n for n in (item.max_output_chars, max_output_chars) if n is not None]
    if not phrases and not limits:
        return CheckResult("policy", "unsure", None, "no blocked phrases or length limit set")
    problems = validate_output(item.output, output_schema=None, blocked_phrases=phrases,
                               max_output_chars=min(limits) if limits else None)
    # Also per language: folded case/accents, substrings in Thai and Chinese (no spaces).
    problems += [f'blocked phrase: "{p}"' for p in blocked_hits(output_text(item.output), phrases)
                 if f'blocked phrase: "{p}"' not in problems]
    return _rules_result("policy", problems)


def schema(item: CheckInput, *, output_schema: dict[str, Any] | None = None) -> CheckResult:
    """The output against the config's schema, else the queue's output_schema."""
    chosen = output_schema if output_schema is not None else item.output_schema
    if chosen is None:
        return CheckResult("schema", "unsure", None, "no output_schema set")
    problems = validate_output(item.output, output_schema=chosen, blocked_phrases=None,
                               max_output_chars=None)
    return _rules_result("schema", problems)
