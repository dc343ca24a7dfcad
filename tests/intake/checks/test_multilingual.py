"""The built-in grounding and policy checks on a labelled multilingual set.

tests/intake/data/grounding_multilingual.jsonl holds, per language (English, Malay,
Indonesian, Thai, Tagalog, Chinese), answers with their sources labelled supported
or not (verbatim, paraphrases, number/unit swaps, negations, opposed terms, dates,
invented facts) and outputs labelled as containing a blocked phrase or not.
A problem found is the positive class: precision = flagged answers that are really
unsupported (or blocked), recall = unsupported (or blocked) answers that are flagged.
A second, held-out file measures what the tuned word lists do on sentences they were
not tuned on. Run `python tests/intake/checks/test_multilingual.py` for the table
(docs/integration.md).
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from review.intake.checks import CheckInput, run_checker

DATA = Path(__file__).parents[1] / "data" / "grounding_multilingual.jsonl"
# Written after the word lists were tuned on DATA, measured once and never tuned on:
# its figures are the honest estimate (8 cases a language, so coarse).
HOLDOUT = DATA.with_name("grounding_multilingual_holdout.jsonl")
LANGUAGES = ("en", "ms", "id", "th", "tl", "zh")
# Floors from the measured figures (docs/integration.md): the development set scores
# 1.00 everywhere (it is what the lists were tuned on); the held-out set 0.83-1.00.
FLOORS = {("grounding", DATA): (0.9, 0.9), ("policy", DATA): (0.9, 0.8),
          ("grounding", HOLDOUT): (0.8, 0.8)}


def cases(path: Path = DATA) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
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


def measure(path: Path = DATA) -> tuple[dict[tuple[str, str], dict[str, int]], list[dict]]:
    """Confusion counts per (check, language), and the cases the checks got wrong."""
    counts: dict[tuple[str, str], dict[str, int]] = defaultdict(
        lambda: {"tp": 0, "fp": 0, "fn": 0, "tn": 0})
    wrong = []
    for case in cases(path):
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


def table(counts: dict[tuple[str, str], dict[str, int]], label: str) -> str:
    lines = []
    for check in ("grounding", "policy"):
        for lang in LANGUAGES:
            c = counts[(check, lang)]
            if not sum(c.values()):
                continue
            precision, recall = ratios(c)
            lines.append(f"| {check} | {label} | {lang} | {sum(c.values())} | "
                         f"{precision:.2f} | {recall:.2f} |")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def measured():
    return {DATA: measure(DATA), HOLDOUT: measure(HOLDOUT)}


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


@pytest.mark.parametrize(("check", "path"), list(FLOORS), ids=lambda v: getattr(v, "stem", v))
@pytest.mark.parametrize("lang", LANGUAGES)
def test_precision_and_recall_hold_per_language(measured, check, path, lang):
    counts, wrong = measured[path]
    precision, recall = ratios(counts[(check, lang)])
    floor_p, floor_r = FLOORS[(check, path)]
    missed = [c["id"] for c in wrong if c["check"] == check and c["lang"] == lang]
    assert precision >= floor_p and recall >= floor_r, (precision, recall, missed)


if __name__ == "__main__":
    print("| check | set | language | cases | precision | recall |\n|---|---|---|---|---|---|")
    errors = []
    for data, label in ((DATA, "development"), (HOLDOUT, "held out")):
        found, wrong = measure(data)
        print(table(found, label))
        errors += wrong
    for case in errors:
        print("wrong:", case["id"], case.get("kind", ""), case["output"][:70])
