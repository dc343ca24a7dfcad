"""Output validation: schema, blocked phrases, length, and the text they see."""

from __future__ import annotations

import pytest

from review.intake.routing import Policy, route_item
from review.intake.validation import output_text, validate_output

ANSWER_SCHEMA = {
    "type": "object",
    "required": ["answer"],
    "properties": {"answer": {"type": "string"}, "sources": {"type": "array",
                                                             "items": {"type": "string"}}},
}


def check(output, **rules):
    rules = {"output_schema": None, "blocked_phrases": None, "max_output_chars": None, **rules}
    return validate_output(output, **rules)


@pytest.mark.parametrize("output, text", [
    ("plain text", "plain text"),
    ("", ""),
    ({"answer": "yes", "why": "because"}, "yes\nbecause"),
    ({"a": ["one", {"b": "two"}], "c": "three"}, "one\ntwo\nthree"),
    ([1, 2.5, True, False, None, "x"], "1\n2.5\ntrue\nfalse\nx"),
    (42, "42"),
    (None, ""),
    ({"only_keys_here": None}, ""),
])
def test_output_text_is_the_leaves_in_order(output, text):
    assert output_text(output) == text


def test_no_rules_means_valid():
    assert check("anything at all") == []
    assert check({"x": 1}) == []


def test_schema_reasons():
    assert check({"answer": "yes"}, output_schema=ANSWER_SCHEMA) == []
    assert check({"wrong": 1}, output_schema=ANSWER_SCHEMA) == \
        ["schema: 'answer' is a required property"]
    assert check({"answer": 1, "sources": ["a", 2]}, output_schema=ANSWER_SCHEMA) == [
        "schema: at /answer: 1 is not of type 'string'",
        "schema: at /sources/1: 2 is not of type 'string'",
    ]
    assert check("text", output_schema=ANSWER_SCHEMA) == ["schema: 'text' is not of type 'object'"]


def test_schema_uses_draft_2020_12():
    schema = {"type": "array", "prefixItems": [{"type": "integer"}], "items": False}
    assert check([1], output_schema=schema) == []
    [reason] = check([1, 2], output_schema=schema)
    assert reason.startswith("schema: ")


def test_schema_formats_are_asserted():
    schema = {"type": "string", "format": "email"}
    assert check("a@example.com", output_schema=schema) == []
    assert check("not an email", output_schema=schema) == \
        ["schema: 'not an email' is not a 'email'"]


@pytest.mark.parametrize("schema", [
    {"type": "nonsense"},
    {"required": "answer"},
    {"minLength": -1},
])
def test_invalid_schema_is_a_reason_not_a_crash(schema):
    [reason] = check({"answer": "x"}, output_schema=schema)
    assert reason.startswith("schema: invalid output_schema: ")


def test_unresolvable_ref_is_a_reason_not_a_crash():
    [reason] = check({"a": 1}, output_schema={"$ref": "https://example.invalid/none.json"})
    assert reason.startswith("schema: cannot validate: ")


def test_many_schema_errors_are_capped():
    reasons = check(list(range(50)), output_schema={"items": {"type": "string"}})
    assert len(reasons) == 21
    assert reasons[-1] == "schema: and 30 more errors"


@pytest.mark.parametrize("text", [
    "This is a fraudulent claim.",
    "FRAUDULENT CLAIM!",
    "a Fraudulent   claim",
    "(fraudulent claim)",
    "first line\nfraudulent\nclaim",
])
def test_plain_phrase_matches_case_insensitively(text):
    assert check(text, blocked_phrases=["fraudulent claim"]) == \
        ['blocked phrase: "fraudulent claim"']


@pytest.mark.parametrize("text", [
    "fraudulent claims",
    "nonfraudulent claim",
    "fraudulent_claim",
    "claim fraudulent",
])
def test_plain_phrase_respects_word_boundaries(text):
    assert check(text, blocked_phrases=["fraudulent claim"]) == []


def test_plain_phrase_with_punctuation_is_literal():
    assert check("Call 1-800 now (toll-free)", blocked_phrases=["(toll-free)"]) == \
        ['blocked phrase: "(toll-free)"']
    assert check("tollXfree", blocked_phrases=["toll.free"]) == []


def test_regex_phrase():
    reasons = check("Refunds are GUARANTEED today.", blocked_phrases=["re:guarantee[ds]?"])
    assert reasons == ['blocked phrase: "re:guarantee[ds]?" (matched "GUARANTEED")']
    assert check("ssn 123-45-6789", blocked_phrases=[r"re:\b\d{3}-\d{2}-\d{4}\b"]) != []
    assert check("no numbers", blocked_phrases=[r"re:\d+"]) == []


def test_bad_regex_is_matched_literally():
    assert check("call refund( now", blocked_phrases=["re:refund("]) == \
        ['blocked phrase: "re:refund(" (matched "refund(")']
    assert check("call refund now", blocked_phrases=["re:refund("]) == []


def test_regex_that_matches_nothing_does_not_block_everything():
    assert check("hello", blocked_phrases=["re:x*", "re:", "", "   "]) == []
    assert check("helloxx", blocked_phrases=["re:x*"]) == ['blocked phrase: "re:x*" (matched "xx")']


def test_phrases_are_found_in_structured_output_values_only():
    output = {"fraudulent claim": "fine", "note": "a Fraudulent Claim here"}
    assert check(output, blocked_phrases=["fraudulent claim"]) == \
        ['blocked phrase: "fraudulent claim"']
    assert check({"fraudulent claim": "fine"}, blocked_phrases=["fraudulent claim"]) == []


def test_non_string_phrases_are_ignored():
    assert check("fine", blocked_phrases=[None, 3]) == []


def test_length_counts_the_text():
    assert check("x" * 4000, max_output_chars=4000) == []
    assert check("x" * 5012, max_output_chars=4000) == ["too long: 5012 > 4000 chars"]
    # Structured output: the values, not the JSON punctuation around them.
    assert check({"a": "xxxx", "b": "yyyy"}, max_output_chars=9) == []
    assert check({"a": "xxxx", "b": "yyyyy"}, max_output_chars=9) == ["too long: 10 > 9 chars"]


def test_all_reasons_are_reported_in_order():
    reasons = check({"wrong": "a fraudulent claim " * 10}, output_schema=ANSWER_SCHEMA,
                    blocked_phrases=["fraudulent claim", "absent"], max_output_chars=50)
    assert reasons == [
        "schema: 'answer' is a required property",
        'blocked phrase: "fraudulent claim"',
        "too long: 190 > 50 chars",
    ]


def test_router_sends_invalid_outputs_to_a_human_with_reasons():
    policy = Policy(auto_approve_at=0.9, review_below=0.6, blocked_phrases=["re:guarantee[ds]?"],
                    max_output_chars=10)
    route = route_item(policy, item_id="i", output="Guaranteed!", confidence=0.99)
    assert route.path == "human"
    assert route.reasons == ['validation: blocked phrase: "re:guarantee[ds]?" '
                             '(matched "Guaranteed")', "validation: too long: 11 > 10 chars"]
