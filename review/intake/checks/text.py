"""Tokenising for the lexical checkers (grounding, consistency).

Deliberately crude and dependency-free: lower-cased word tokens, stopwords and
very short tokens dropped, a light plural fold. Numbers and negations are kept
because they are exactly what makes a claim differ from its source.
"""

from __future__ import annotations

import re

from review.intake.checks import language
from review.intake.checks.lexicon import ENGLISH_NEGATIONS, ENGLISH_STOPWORDS

_WORD = re.compile(r"[0-9a-z]+(?:['’][a-z]+)?")


def _fold(word: str) -> str:
    word = word.replace("’", "'")
    if word.endswith("'s"):
        word = word[:-2]
    if word.endswith("n't"):
        return "not"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    return word


def content_tokens(text: str) -> list[str]:
    """The meaningful words of `text`, in order (duplicates kept, for bigrams)."""
    tokens = []
    for raw in _WORD.findall(text.lower()):
        word = _fold(raw)
        if word in ENGLISH_NEGATIONS or any(c.isdigit() for c in word):
            tokens.append(word)
        elif len(word) >= 3 and word not in ENGLISH_STOPWORDS:
            tokens.append(word)
    return tokens


def bigrams(tokens: list[str]) -> set[tuple[str, str]]:
    """Adjacent pairs of content tokens: they catch reused words in a new arrangement."""
    return set(zip(tokens, tokens[1:], strict=False))


def sentences(text: str) -> list[str]:
    """Split on sentence punctuation followed by space, CJK full stops, line breaks and
    spaces between Thai words: the grounding checker's own sentences (`language`)."""
    return language.sentences(text)


def jaccard(a: set[str], b: set[str]) -> float:
    """|a ∩ b| / |a ∪ b|; two empty sets agree completely."""
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)
