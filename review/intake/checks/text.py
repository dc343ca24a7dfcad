"""Tokenising for the lexical checkers (grounding, consistency).

Deliberately crude and dependency-free: lower-cased word tokens, stopwords and
very short tokens dropped, a light plural fold. Numbers and negations are kept
because they are exactly what makes a claim differ from its source.
"""

from __future__ import annotations

import re

from review.intake.checks import language

_WORD = re.compile(r"[0-9a-z]+(?:['’][a-z]+)?")
NEGATIONS = frozenset({"no", "not", "never", "none", "nor", "cannot", "without"})
STOPWORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before
being below between both but by can could did do does doing down during each few for from
further had has have having he her here hers herself him himself his how i if in into is it
its itself just let me more most my myself of off on once only or other our ours ourselves
out over own same she should so some such than that the their theirs them themselves then
there these they this those through to too under until up very was we were what when where
which while who whom why will with would you your yours yourself yourselves may might must
shall via per yes ok okay please thanks thank hello hi dear sure
""".split())


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
        if word in NEGATIONS or any(c.isdigit() for c in word):
            tokens.append(word)
        elif len(word) >= 3 and word not in STOPWORDS:
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
