"""The built-in grounding and policy checks on a labelled multilingual set.

tests/intake/data/grounding_multilingual.jsonl holds, per language (English, Malay,
Indonesian, Thai, Tagalog, Chinese), answers with their sources labelled supported
or not (verbatim, paraphrases, number/unit swaps, negations, opposed terms, dates,
invented facts) and outputs labelled as containing a blocked phrase or not.
A problem found is the positive class: precision = flagged answers that are really
unsupported (or blocked), recall = unsupported (or blocked) answers that are flagged.
Run `python tests/intake/checks/test_multilingual.py` for the table (docs/integration.md).
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from review.intake.checks import CheckInput, run_checker

DATA = Path(__file__).parents[1] / "data" / "grounding_multilingual.jsonl"
LANGUAGES = ("en", "ms", "id", "th", "tl", "zh")
# Floors set from the measured figures (docs/integration.md), a little below them.
FLOORS = {"grounding": (0.9, 0.9), "policy": (0.9, 0.8)}


def cases() -> list[dict]:
    return [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def flagged(case: dict) -> bool:
    """Whether the check finds a problem with the case's output."""
    if case["check"] == "grounding":
        result = run_checker({"type": "grounding"}, CheckInput(
            item_id=case["id"], output=case["output"], context=case["context"]))
    else:
        result = run_checker({"type": "policy", "blocked_phrases": case["blocked_phrases"]},
                             CheckInput(item_id=case["id"], output=case["output"]))
    assert result.verdict != "error", result.reason
    return result.verdict != "pass"


def truth(case: dict) -> bool:
    return not case["supported"] if case["check"] == "grounding" else case["blocked"]


def measure() -> tuple[dict[tuple[str, str], dict[str, int]], list[dict]]:
    """Confusion counts per (check, language), and the cases the checks got wrong."""
    counts: dict[tuple[str, str], dict[str, int]] = defaultdict(
        lambda: {"tp": 0, "fp": 0, "fn": 0, "tn": 0})
    wrong = []
    for case in cases():
        got, want = flagged(case), truth(case)
        key = ("tp" if want else "fp") if got else ("fn" if want else "tn")
        counts[(case["check"], case["lang"])][key] += 1
        if got != want:
            wrong.append(case)
    return counts, wrong


def ratios(c: dict[str, int]) -> tuple[float, float]:
    precision = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 1.0
    recall = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else 1.0
    return precision, recall


def table(counts: dict[tuple[str, str], dict[str, int]]) -> str:
    lines = ["| check | language | cases | precision | recall |", "|---|---|---|---|---|"]
    for check in ("grounding", "policy"):
        for lang in LANGUAGES:
            c = counts[(check, lang)]
            precision, recall = ratios(c)
            lines.append(f"| {check} | {lang} | {sum(c.values())} | {precision:.2f} | "
                         f"{recall:.2f} |")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def measured():
    return measure()


def test_the_set_has_twenty_grounding_cases_per_language_of_every_kind():
    by_lang = defaultdict(list)
    for case in cases():
        by_lang[(case["check"], case["lang"])].append(case)
    for lang in LANGUAGES:
        grounding = by_lang[("grounding", lang)]
        assert len(grounding) >= 20, lang
        kinds = {c["kind"] for c in grounding}
        assert {"paraphrase", "number_unit", "negation", "opposite", "date"} <= kinds, lang
        assert by_lang[("policy", lang)], lang


@pytest.mark.parametrize("check", ["grounding", "policy"])
@pytest.mark.parametrize("lang", LANGUAGES)
def test_precision_and_recall_hold_per_language(measured, check, lang):
    counts, wrong = measured
    precision, recall = ratios(counts[(check, lang)])
    floor_p, floor_r = FLOORS[check]
    missed = [c["id"] for c in wrong if c["check"] == check and c["lang"] == lang]
    assert precision >= floor_p and recall >= floor_r, (precision, recall, missed)


if __name__ == "__main__":
    found, errors = measure()
    print(table(found))
    for case in errors:
        print("wrong:", case["id"], case.get("kind", ""), case["output"][:70])
