"""The item page's grounding marks (review/web/reading.py) are exactly the grounding
checker's verdicts, sentence by sentence, under the queue's own options; past the
time budget they are the sentences the stored check result quotes."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from review.intake.checks.base import CheckInput
from review.intake.checks.builtin import grounding
from review.intake.checks.text import sentences
from review.web.reading import confidence_bar, labelled_fields, output_view, route_sentence

CONTEXT = [
    {"title": "Refund policy", "text": "Refunds are sent to the original card within 5 "
     "business days. Refunds are not possible after 30 days."},
    "Shipping is free for orders over 50 euros. We never ship to PO boxes.",
]
OUTPUT = ("Refunds are sent to the original card within 5 business days.\n"
          "Refunds are sent to the original card within 7 business days. "
          "Shipping is not free for orders over 50 euros. "
          "We added a voucher to your account! Thanks. "
          "Orders over 50 euros ship free. Refunds possible after 30 days.")


def item(output, context=CONTEXT, verdict="fail", reason=""):
    return SimpleNamespace(id="x", output=output, context=context, check_verdict=verdict,
                           check_checker="grounding", check_reason=reason, route_reasons=[],
                           escalated=False, confidence=0.42)


def queue(**checker):
    return SimpleNamespace(checker={"type": "grounding", **checker}, max_error_rate=None,
                           review_below=0.6, auto_approve_at=0.9)


@pytest.mark.parametrize("options", [{}, {"min_token_overlap": 0.5},
                                     {"min_bigram_overlap": 0.9}, {"strict_terms": False}])
def test_marks_are_the_checkers_verdicts(options):
    view = output_view(item(OUTPUT), queue(**options))
    marked = {run["text"] for field in view["fields"] for run in field["runs"]
              if run["unsupported"]}
    expected = set()
    for sentence in sentences(OUTPUT):
        result = grounding(CheckInput(item_id="x", output=sentence, context=CONTEXT), **options)
        if result.score is not None and result.score < 1:
            expected.add(sentence)
    assert marked == expected and view["unsupported"] == len(expected)
    assert "We added a voucher to your account!" in marked
    assert "Refunds are sent to the original card within 5 business days." not in marked
    # The runs put the text back together exactly.
    assert "".join(run["text"] for run in view["fields"][0]["runs"]) == OUTPUT


def test_no_marks_without_a_grounding_verdict_or_context():
    assert output_view(item(OUTPUT, verdict=None), queue())["unsupported"] == 0
    assert output_view(item(OUTPUT, context=[]), queue())["unsupported"] == 0
    plain = SimpleNamespace(checker={"type": "policy"}, max_error_rate=None)
    assert output_view(item(OUTPUT), plain)["grounded"] is False


def test_object_outputs_are_marked_field_by_field():
    view = output_view(item({"answer": "We added a voucher to your account.", "n": 3}), queue())
    labels = [f["label"] for f in view["fields"]]
    assert labels == ["answer", "n"] and view["unsupported"] == 1


def test_a_long_output_over_a_long_context_takes_the_stored_quotes():
    context = [" ".join(f"word{i} fact{i} claim{i}." for i in range(j, j + 400))
               for j in range(0, 4000, 400)]  # ten sources, ~200 KB of text
    output = " ".join(f"The fact{i} holds for claim{i + 1} in 2024." for i in range(300))
    reason = '1/300 sentences supported; unsupported: "The fact0 holds for claim1 in 2024."'
    started = time.perf_counter()
    view = output_view(item(output, context=context, reason=reason), queue())
    assert time.perf_counter() - started < 0.5
    assert view["unsupported"] == 1


def test_words_for_the_route_the_bar_and_the_fields():
    it = item("x")
    it.route_reasons = ["confidence 0.42 < review_below 0.6"]
    assert route_sentence(it) == ("Sent to review because its confidence 0.42 is below the "
                                  "queue's review line 0.6, and the grounding check said "
                                  "“fail”.")
    bar = confidence_bar(it, queue())
    assert (bar["value"], bar["review_below"], bar["auto"], bar["zone"]) == (42.0, 60.0, 90.0,
                                                                             "low")
    assert labelled_fields({"q": "hi", "n": {"a": 1}}) == [
        {"label": "q", "text": "hi", "structured": False},
        {"label": "n", "text": '{\n  "a": 1\n}', "structured": True}]
    assert labelled_fields(None) == [] and labelled_fields("text")[0]["label"] is None
