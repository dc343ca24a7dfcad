"""Built-in checkers, the runner and the result types."""

from __future__ import annotations

import dataclasses

import pytest

from review.intake.checks import CHECKERS, CheckInput, CheckResult, run_checker

KB = [
    {"id": "kb-1", "title": "Refund policy", "url": "https://example.com/refunds",
     "text": "Customers can get a full refund within 30 days of purchase. "
             "Refunds are paid to the original payment method."},
    {"id": "kb-2", "content": "Standard shipping is free on orders over $50 and takes 3 to 5 "
                              "business days."},
]


def item(output, **fields) -> CheckInput:
    return CheckInput(item_id="itm", output=output, **fields)


def grounding(output, context=KB, **options) -> CheckResult:
    return run_checker({"type": "grounding", **options}, item(output, context=context))


# --- grounding -------------------------------------------------------------------------

def test_grounded_output_passes():
    result = grounding("You can get a full refund within 30 days of purchase. "
                       "Refunds are paid to your original payment method. "
                       "Standard shipping takes 3 to 5 business days.")
    assert (result.checker, result.verdict, result.score) == ("grounding", "pass", 1.0)
    assert result.reason == "3/3 sentences supported by 2 context sources"


def test_invented_output_fails_and_quotes_sentences():
    result = grounding("Our CEO personally calls every customer. "
                       "Drones deliver parcels within an hour. Loyalty members earn double points.")
    assert (result.verdict, result.score) == ("fail", 0.0)
    assert result.reason.startswith("0/3 sentences supported by 2 context sources; unsupported: ")
    assert '"Our CEO personally calls every customer."' in result.reason


def test_partly_grounded_output_is_unsure():
    result = grounding("You can get a full refund within 30 days of purchase. "
                       "Our CEO personally calls every customer.")
    assert (result.verdict, result.score) == ("unsure", 0.5)
    assert result.reason.endswith('unsupported: "Our CEO personally calls every customer."')


def test_changed_number_is_unsupported():
    assert grounding("You can get a full refund within 30 days of purchase.").verdict == "pass"
    result = grounding("You can get a full refund within 90 days of purchase.")
    assert (result.verdict, result.score) == ("fail", 0.0)
    relaxed = grounding("You can get a full refund within 90 days of purchase.",
                        strict_terms=False)
    assert relaxed.verdict == "pass"


def test_added_negation_is_unsupported():
    assert grounding("Refunds are paid to the original payment method.").verdict == "pass"
    for text in ("Refunds are never paid to the original payment method.",
                 "Refunds aren't paid to the original payment method."):
        result = grounding(text)
        assert (result.verdict, result.score) == ("fail", 0.0), text
    negated = ["Refunds are not paid in cash."]
    assert grounding("Refunds are not paid in cash.", context=negated).verdict == "pass"


def test_bigrams_catch_reused_words_in_a_new_arrangement():
    salad = "Orders purchase shipping refund business original customers method days free."
    assert grounding(salad, min_bigram_overlap=0.0).verdict == "pass"
    assert grounding(salad).verdict == "fail"


def test_sentences_without_content_are_not_counted():
    result = grounding("Thanks! You can get a full refund within 30 days of purchase. Hi.")
    assert (result.verdict, result.score) == ("pass", 1.0)
    assert result.reason.startswith("1/1 sentences")
    assert grounding("Thanks! Hi.").verdict == "unsure"
    assert grounding("Thanks! Hi.").reason == "output has no checkable sentences"


@pytest.mark.parametrize("context", [[], None, [{"url": "https://x", "id": 3}], ["  "], [7]])
def test_no_context_is_unsure(context):
    result = grounding("You can get a full refund.", context=context)
    assert (result.verdict, result.score, result.reason) == ("unsure", None, "no context sources")


def test_string_sources_and_titles_count():
    assert grounding("Refund policy.", context=[{"title": "Refund policy"}]).verdict == "pass"
    assert grounding("Refunds take 5 days.", context=["Refunds take 5 days."]).verdict == "pass"
    assert grounding("Refunds take 5 days.", context="Refunds take 5 days.").verdict == "pass"


def test_structured_output_is_checked_by_its_text():
    output = {"answer": "Standard shipping is free on orders over $50.",
              "extra": ["Our CEO personally calls every customer."]}
    result = grounding(output)
    assert (result.verdict, result.score) == ("unsure", 0.5)


def test_thresholds_are_configurable():
    text = "You can get a full refund within 30 days of purchase. Our CEO calls everyone."
    assert grounding(text, threshold=0.5).verdict == "pass"
    assert grounding(text, threshold=0.9, fail_below=0.6).verdict == "fail"


def test_unsupported_list_is_truncated():
    invented = " ".join(f"Invented fact number {w} about galaxies." for w in
                        ["alpha", "beta", "gamma", "delta", "epsilon"])
    result = grounding(invented)
    assert result.reason.count('"Invented fact') == 3
    assert result.reason.endswith(" and 2 more")
    long = "Galaxies " + "spiral " * 40 + "forever."
    assert "…" in grounding(long).reason and len(grounding(long).reason) < 200


@pytest.mark.parametrize("options", [
    {"threshold": 1.5}, {"threshold": 0.4, "fail_below": 0.6}, {"fail_below": "low"},
    {"min_token_overlap": 2}, {"surprise": 1},
])
def test_bad_grounding_options_are_errors(options):
    result = grounding("anything", **options)
    assert result.verdict == "error" and result.checker == "grounding"
    assert "ValueError" in result.reason


# --- consistency -----------------------------------------------------------------------

def consistency(output, samples, **options) -> CheckResult:
    return run_checker({"type": "consistency", **options},
                       item(output, metadata={"samples": samples}))


def test_agreeing_samples_pass():
    result = consistency("The parcel ships Monday from Berlin.",
                         ["The parcel ships Monday from Berlin.", "Parcel ships Monday, Berlin."])
    assert result.verdict == "pass" and result.score == 1.0
    assert result.reason == "mean agreement 1.00 with 2 samples (lowest 1.00)"


def test_disagreeing_samples_fail():
    result = consistency("The parcel ships Monday from Berlin.",
                         ["Delivery happens Friday via Paris.", "We cannot say when."])
    assert result.verdict == "fail" and result.score == 0.0


def test_partial_agreement_is_unsure():
    result = consistency("The parcel ships Monday from Berlin.",
                         ["The parcel ships Monday from Berlin.", "Delivery happens Friday."])
    assert result.verdict == "unsure" and result.score == pytest.approx(0.5)
    assert "lowest 0.00" in result.reason


def test_structured_samples_and_thresholds():
    output = {"city": "Berlin", "day": "Monday"}
    assert consistency(output, [{"city": "Berlin", "day": "Monday"}]).verdict == "pass"
    half = [{"city": "Berlin", "day": "Friday"}]
    assert consistency(output, half).score == pytest.approx(1 / 3)
    assert consistency(output, half, threshold=0.3).verdict == "pass"


@pytest.mark.parametrize("metadata", [{}, {"samples": []}, {"samples": "one"},
                                      {"samples": [None]}])
def test_no_samples_is_unsure(metadata):
    result = run_checker({"type": "consistency"}, item("x", metadata=metadata))
    assert (result.verdict, result.score) == ("unsure", None)
    assert result.reason == "no samples in metadata.samples"


# --- policy and schema -----------------------------------------------------------------

def test_policy_uses_queue_rules():
    rules = {"blocked_phrases": ["fraudulent claim"], "max_output_chars": 30}
    result = run_checker({"type": "policy"}, item("A fraudulent claim, clearly.", **rules))
    assert (result.verdict, result.score) == ("fail", 0.0)
    assert result.reason == 'blocked phrase: "fraudulent claim"'
    result = run_checker({"type": "policy"}, item("All good.", **rules))
    assert (result.verdict, result.score, result.reason) == ("pass", 1.0, "no problems found")


def test_policy_config_adds_stricter_rules():
    queue_rules = {"blocked_phrases": ["fraudulent claim"], "max_output_chars": 100}
    config = {"type": "policy", "blocked_phrases": ["re:lawsuits?"], "max_output_chars": 10}
    result = run_checker(config, item("A lawsuit is coming.", **queue_rules))
    assert result.verdict == "fail"
    assert result.reason == ('blocked phrase: "re:lawsuits?" (matched "lawsuit"); '
                             "too long: 20 > 10 chars")


def test_policy_without_rules_is_unsure():
    result = run_checker({"type": "policy"}, item("anything"))
    assert result.verdict == "unsure" and "no blocked phrases" in result.reason


def test_schema_checker():
    schema = {"type": "object", "required": ["answer"]}
    assert run_checker({"type": "schema"}, item({"answer": 1}, output_schema=schema)).verdict \
        == "pass"
    result = run_checker({"type": "schema"}, item({"other": 1}, output_schema=schema))
    assert (result.verdict, result.reason) == ("fail", "schema: 'answer' is a required property")
    override = run_checker({"type": "schema", "output_schema": {"type": "string"}},
                           item({"answer": 1}, output_schema=schema))
    assert override.verdict == "fail"
    assert run_checker({"type": "schema"}, item("x")).verdict == "unsure"
    broken = run_checker({"type": "schema"}, item("x", output_schema={"type": 5}))
    assert broken.verdict == "fail" and "invalid output_schema" in broken.reason


# --- runner ----------------------------------------------------------------------------

@pytest.mark.parametrize("config, checker, expected", [
    ({"type": "nope"}, "nope", "unknown checker type 'nope'"),
    ({}, "unknown", "unknown checker type None"),
    ("grounding", "unknown", "must be an object"),
    (None, "unknown", "must be an object"),
    ({"type": "all", "checks": []}, "all", "non-empty list"),
    ({"type": "all", "checks": [{"type": "policy"}], "mode": "any"}, "all", "unknown option"),
])
def test_bad_configs_are_errors(config, checker, expected):
    result = run_checker(config, item("x"))
    assert (result.checker, result.verdict, result.score) == (checker, "error", None)
    assert expected in result.reason


def test_a_crashing_checker_becomes_an_error(monkeypatch):
    def boom(item: CheckInput) -> CheckResult:
        raise RuntimeError("model server on fire")

    monkeypatch.setitem(CHECKERS, "boom", boom)
    result = run_checker({"type": "boom"}, item("x"))
    assert (result.checker, result.verdict) == ("boom", "error")
    assert result.reason == "RuntimeError: model server on fire"
    assert result.latency_ms >= 0


PASS = {"type": "grounding"}  # with KB context and a grounded output
FAIL = {"type": "policy", "blocked_phrases": ["refund"]}
UNSURE = {"type": "consistency"}  # no samples
ERROR = {"type": "nope"}


@pytest.mark.parametrize("parts, verdict", [
    ([PASS], "pass"),
    ([PASS, PASS], "pass"),
    ([PASS, UNSURE], "unsure"),
    ([PASS, ERROR], "error"),
    ([UNSURE, ERROR], "error"),
    ([PASS, FAIL], "fail"),
    ([ERROR, FAIL, UNSURE], "fail"),
    ([PASS, {"type": "all", "checks": [PASS, FAIL]}], "fail"),
])
def test_composite_verdicts(parts, verdict):
    grounded = item("You can get a full refund within 30 days of purchase.", context=KB)
    result = run_checker({"type": "all", "checks": parts}, grounded)
    assert (result.checker, result.verdict) == ("all", verdict), result.reason


def test_composite_reason_and_score():
    grounded = item("You can get a full refund within 30 days of purchase.", context=KB)
    result = run_checker({"type": "all", "checks": [PASS, FAIL, UNSURE]}, grounded)
    assert result.score == 0.0  # the lowest part score
    assert result.reason == ("grounding: pass (1/1 sentences supported by 2 context sources); "
                             'policy: fail (blocked phrase: "refund"); '
                             "consistency: unsure (no samples in metadata.samples)")


def test_composite_nesting_is_bounded():
    config: dict = PASS
    for _ in range(5):
        config = {"type": "all", "checks": [config]}
    result = run_checker(config, item("You can get a full refund.", context=KB))
    assert result.verdict == "error" and "nested deeper" in result.reason


# --- result types ----------------------------------------------------------------------

def test_result_to_dict_and_immutability():
    result = run_checker({"type": "policy", "blocked_phrases": ["x"]}, item("fine"))
    assert result.to_dict() == {"checker": "policy", "verdict": "pass", "score": 1.0,
                                "reason": "no problems found", "latency_ms": result.latency_ms}
    assert result.latency_ms > 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.verdict = "fail"  # type: ignore[misc]


@pytest.mark.parametrize("fields", [
    {"verdict": "ok"}, {"score": 1.5}, {"score": float("nan")}, {"score": True},
    {"score": "0.5"}, {"reason": None},
])
def test_results_reject_bad_values(fields):
    with pytest.raises(ValueError):
        CheckResult(**{"checker": "c", "verdict": "pass", **fields})


def test_long_reasons_are_truncated():
    result = CheckResult("c", "fail", 0, "x" * 5000)
    assert len(result.reason) == 2000 and result.reason.endswith("…")
    assert isinstance(result.score, float)
