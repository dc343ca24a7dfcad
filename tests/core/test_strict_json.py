"""The strict JSON parser both edges use (the API's bodies, the web's edit form)."""

from __future__ import annotations

import pytest

from review.core.errors import BadArgument
from review.core.strict_json import MAX_DEPTH, loads_strict, unencodable_path


@pytest.mark.parametrize("text, code", [
    ('{"a": 1e999}', "invalid_json"), ("[NaN]", "invalid_json"), ("-Infinity", "invalid_json"),
    ("{", "invalid_json"), ("", "invalid_json"),
    ('"\\u0000"', "invalid_characters"), ('{"a\\u0000": 1}', "invalid_characters"),
    ('"\\ud800"', "invalid_characters"), ('{"\\udfff": 1}', "invalid_characters"),
    ('["ok", "\\ud83d"]', "invalid_characters"),
    ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "too_deep"),
    ("[" * 10_000 + "]" * 10_000, "too_deep"),
    ('{"a":' * 10_000 + "1" + "}" * 10_000, "too_deep"),
])
def test_refused(text, code):
    with pytest.raises(BadArgument) as raised:
        loads_strict(text)
    assert raised.value.code == code
    assert raised.value.message.startswith("The body")


@pytest.mark.parametrize("text, value", [
    ('"\\ud83d\\ude00"', "\U0001f600"),  # a surrogate pair is one character: fine
    ("[" * MAX_DEPTH + "]" * MAX_DEPTH, None),
    ('{"a": 1.5e300, "b": [-0.0, 1]}', {"a": 1.5e300, "b": [-0.0, 1]}),
])
def test_accepted(text, value):
    parsed = loads_strict(text)
    if value is not None:
        assert parsed == value


def test_the_subject_names_what_was_parsed():
    with pytest.raises(BadArgument, match="^The edited output is not valid JSON"):
        loads_strict("{", what="The edited output")


@pytest.mark.parametrize("value, path", [
    ({"a": [1, {"b": "x\ud800"}]}, "$.a[1].b"),
    ({"a b": "\udc00"}, "$['a b']"),
    ({"k\ud800": 1}, "$['k\\ud800']"),
    (["\ud800"], "$[0]"),
    ("\ud800", "$"),
    ({"a": "fine", "b": ["\U0001f600"]}, None),
])
def test_unencodable_path(value, path):
    assert unencodable_path(value) == path
