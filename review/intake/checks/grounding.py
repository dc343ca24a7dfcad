"""The grounding checker: how much of an output its context sources support, in any of
the deployments' languages (see `language`).

A sentence is supported when enough of its content words (after per-language
normalisation and synonyms) occur in the sources, and, with `strict_terms`, every
number with its unit and every date in it occurs there too, it does not negate
what the closest source sentence states (or the reverse), and it does not swap a
policy term for its opposite (approval/rejection, before/after...). Lexical: it
catches invented facts, changed figures and flipped claims, not every paraphrase.
"""

from __future__ import annotations

from typing import Any

from review.intake.checks import language
from review.intake.checks.base import CheckInput, CheckResult, check_thresholds, clip, grade
from review.intake.validation import output_text

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


def _pairs(tokens: list[str], reach: int = 1) -> set[frozenset[str]]:
    # Unordered and a word apart at most: a paraphrase may turn "refund within 30 days"
    # into "within 30 days, a full refund"; a word salad still breaks most pairs.
    return {frozenset((a, b)) for i, a in enumerate(tokens)
            for b in tokens[i + 1:i + 1 + reach] if a != b}


class Sources:
    """The context, read once: its words, word pairs, figures, dates and sentences."""

    def __init__(self, texts: list[str]) -> None:
        self.sentences = [language.features(s) for t in texts for s in language.sentences(t)]
        self._sentence_words = [set(s.tokens) | language.han_pairs(s.han)
                                for s in self.sentences]
        self.words: set[str] = set()
        self.han: set[str] = set()
        self.pairs: set[frozenset[str]] = set()
        self.quantities: set[str] = set()
        self.dates: set[str] = set()
        self.terms: set[str] = set()
        for text in texts:
            whole = language.features(text)
            self.words.update(whole.tokens)
            self.han.update(language.han_pairs(whole.han))
            self.pairs.update(_pairs(whole.tokens, reach=3))
            self.quantities.update(whole.quantities)
            self.dates.update(whole.dates)
            self.terms.update(whole.terms)
        for sentence in self.sentences:
            self.quantities.update(sentence.quantities)
            self.dates.update(sentence.dates)

    def closest(self, claim: language.Features) -> language.Features | None:
        """The source sentence sharing most of the claim's words (ties: same polarity)."""
        words = set(claim.tokens) | language.han_pairs(claim.han)
        best, best_key = None, (0, False)
        for sentence, known in zip(self.sentences, self._sentence_words, strict=True):
            key = (len(words & known), sentence.negated == claim.negated)
            if key > best_key:
                best, best_key = sentence, key
        return best


def _strict_problem(claim: language.Features, sources: Sources) -> str | None:
    """Why a sentence that shares the sources' words still says something else."""
    for amount in sorted(claim.quantities):
        if not language.quantity_supported(amount, sources.quantities):
            return f"{amount} not in the sources"
    for date in sorted(claim.dates):
        if not language.dates_match(date, sources.dates):
            return f"date {date.removeprefix('0000-')} not in the sources"
    closest = sources.closest(claim)
    if closest is not None and closest.negated != claim.negated:
        return "negates the source" if claim.negated else "drops the source's negation"
    swapped = language.opposed(claim.terms, closest.terms if closest else frozenset())
    if swapped is None:
        swapped = language.opposed(claim.terms, frozenset(sources.terms))
    if swapped is not None:
        return f'"{swapped}" where the source says the opposite'
    return None


def grounding(
    item: CheckInput,
    *,
    threshold: float = 0.8,
    fail_below: float = 0.5,
    min_token_overlap: float = 0.7,
    min_bigram_overlap: float = 0.4,
    strict_terms: bool = True,
) -> CheckResult:
    """Share of the output's sentences supported by the context sources.

    A sentence counts as supported when at least `min_token_overlap` of its content
    words, and (for sentences of four or more content words) at least
    `min_bigram_overlap` of its word pairs (in either order, a word apart at most) occur
    close together in the context, and (with `strict_terms`) its numbers with units,
    dates, negation and policy terms agree with the sources: a changed figure or an
    added "not"/"tidak"/"ไม่"/"不" flips a claim while barely changing its words.
    """
    check_thresholds(threshold, fail_below)
    check_thresholds(min_token_overlap, 0.0)
    check_thresholds(min_bigram_overlap, 0.0)
    texts = [t for t in (source_text(s) for s in _as_list(item.context)) if t.strip()]
    if not texts:
        return CheckResult("grounding", "unsure", None, "no context sources")
    sources = Sources(texts)

    checked = 0
    unsupported: list[str] = []
    for sentence in language.sentences(output_text(item.output)):
        claim = language.features(sentence)
        if not (claim.tokens or claim.han or claim.quantities or claim.dates):
            continue  # "Thanks!" makes no claim
        checked += 1
        words = set(claim.tokens)
        han_hits, han_chars = language.han_covered(claim.han, sources.han)
        total = len(words) + han_chars
        word_share = (len(words & sources.words) + han_hits) / total if total else 1.0
        pairs = _pairs(claim.tokens, reach=2)
        pair_share = len(pairs & sources.pairs) / len(pairs) if len(words) >= 4 else 1.0
        problem = _strict_problem(claim, sources) if strict_terms else None
        if problem is not None:
            unsupported.append(f'"{clip(sentence)}" ({problem})')
        elif word_share < min_token_overlap or pair_share < min_bigram_overlap:
            unsupported.append(f'"{clip(sentence)}"')
    if not checked:
        return CheckResult("grounding", "unsure", None, "output has no checkable sentences")

    score = (checked - len(unsupported)) / checked
    reason = (f"{checked - len(unsupported)}/{checked} sentences supported by "
              f"{len(texts)} context source{'s' if len(texts) != 1 else ''}")
    if unsupported:
        more = len(unsupported) - MAX_QUOTED
        reason += "; unsupported: " + ", ".join(unsupported[:MAX_QUOTED]) + \
            (f" and {more} more" if more > 0 else "")
    return CheckResult("grounding", grade(score, threshold=threshold, fail_below=fail_below),
                       score, reason)
