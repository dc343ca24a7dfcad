"""Built-in checkers: cheap, local, deterministic second opinions.

Each is a plain function `(item, **thresholds) -> CheckResult` so a queue's
checker config maps straight onto keyword arguments. They leave latency to the
runner, which times every checker the same way.
"""

from __future__ import annotations

from statistics import mean
from typing import Any

from review.intake.checks.base import CheckInput, CheckResult, check_thresholds, clip, grade
from review.intake.checks.text import NEGATIONS, bigrams, content_tokens, jaccard, sentences
from review.intake.validation import output_text, validate_output

MAX_QUOTED = 3


def source_text(source: Any) -> str:
    """The text of one context source: a string, or an object's text/content (+ title)."""
    if isinstance(source, str):
        return source
    if isinstance(source, dict):
        parts = [source.get(key) for key in ("title", "text", "content")]
        return "\n".join(p for p in parts if isinstance(p, str) and p.strip())
    return ""


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _strict(token: str) -> bool:
    return token in NEGATIONS or any(c.isdigit() for c in token)


def grounding(
    item: CheckInput,
    *,
    threshold: float = 0.8,
    fail_below: float = 0.5,
    min_token_overlap: float = 0.7,
    min_bigram_overlap: float = 0.4,
    strict_terms: bool = True,
) -> CheckResult:
    """Share of the output's sentences whose words are found in the context sources.

    A sentence counts as supported when at least `min_token_overlap` of its
    content words, and (for sentences of three or more content words) at least
    `min_bigram_overlap` of its adjacent word pairs, occur in the context, and
    (with `strict_terms`) every number and negation in it does: a changed
    figure or an added "not" flips a claim while barely changing its words.
    Lexical, so it catches invented facts and numbers, not subtle paraphrase.
    """
    check_thresholds(threshold, fail_below)
    check_thresholds(min_token_overlap, 0.0)
    check_thresholds(min_bigram_overlap, 0.0)
    texts = [t for t in (source_text(s) for s in _as_list(item.context)) if t.strip()]
    if not texts:
        return CheckResult("grounding", "unsure", None, "no context sources")
    known: set[str] = set()
    known_pairs: set[tuple[str, str]] = set()
    for text in texts:
        tokens = content_tokens(text)
        known.update(tokens)
        known_pairs.update(bigrams(tokens))

    checked = 0
    unsupported: list[str] = []
    for sentence in sentences(output_text(item.output)):
        tokens = content_tokens(sentence)
        if not tokens:
            continue  # "Thanks!" makes no claim
        checked += 1
        words = set(tokens)
        word_share = len(words & known) / len(words)
        pairs = bigrams(tokens)
        pair_share = len(pairs & known_pairs) / len(pairs) if len(pairs) >= 2 else 1.0
        new_term = strict_terms and any(t not in known and _strict(t) for t in words)
        if word_share < min_token_overlap or pair_share < min_bigram_overlap or new_term:
            unsupported.append(sentence)
    if not checked:
        return CheckResult("grounding", "unsure", None, "output has no checkable sentences")

    score = (checked - len(unsupported)) / checked
    reason = (f"{checked - len(unsupported)}/{checked} sentences supported by "
              f"{len(texts)} context source{'s' if len(texts) != 1 else ''}")
    if unsupported:
        quoted = ", ".join(f'"{clip(s)}"' for s in unsupported[:MAX_QUOTED])
        more = len(unsupported) - MAX_QUOTED
        reason += f"; unsupported: {quoted}" + (f" and {more} more" if more > 0 else "")
    return CheckResult("grounding", grade(score, threshold=threshold, fail_below=fail_below),
                       score, reason)


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
    return _rules_result("policy", problems)


def schema(item: CheckInput, *, output_schema: dict[str, Any] | None = None) -> CheckResult:
    """The output against the config's schema, else the queue's output_schema."""
    chosen = output_schema if output_schema is not None else item.output_schema
    if chosen is None:
        return CheckResult("schema", "unsure", None, "no output_schema set")
    problems = validate_output(item.output, output_schema=chosen, blocked_phrases=None,
                               max_output_chars=None)
    return _rules_result("schema", problems)
