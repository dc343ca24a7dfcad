"""Request schemas: the compiled fast path never accepts what jsonschema rejects."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from review.intake.schemas import BATCH_IN, DECISION_IN, ITEM_IN, validation_errors

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10, 300),
                    st.floats(-2, 2, allow_nan=False), st.text(max_size=5),
                    st.text(min_size=195, max_size=205))
JSON = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8)


def bodies(schema: dict) -> st.SearchStrategy[dict]:
    """Objects built from the schema's own keys (and a stray one), with any values."""
    keys = st.sampled_from([*schema["properties"], "stray"])
    values = st.one_of(JSON, st.dictionaries(st.sampled_from(["name", "version", "x"]),
                                             SCALARS, max_size=3))
    return st.dictionaries(keys, values, max_size=len(schema["properties"]) + 1)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from([ITEM_IN, DECISION_IN, BATCH_IN]).flatmap(
    lambda schema: st.tuples(st.just(schema), bodies(schema))))
def test_fast_path_agrees_with_jsonschema(case) -> None:
    schema, body = case
    reference = sorted(Draft202012Validator(schema).iter_errors(body), key=str)
    problems = validation_errors(schema, body)
    assert bool(problems) == bool(reference), (body, problems, reference)


def test_validation_never_writes_defaults_into_the_body() -> None:
    body = {"queue": "q", "output": "x", "confidence": 0.5}
    assert validation_errors(ITEM_IN, body) == [] and "priority" not in body
