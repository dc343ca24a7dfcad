"""The body hash: defaults written out or left out hash alike; old hashes stay valid."""

from __future__ import annotations

import hashlib
import json
from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from review.intake.normalise import DEFAULTS, body_hash, hash_matches, normal_form
from review.intake.schemas import ITEM_IN


def legacy_hash(payload: dict) -> str:
    """The hash items were stored with before the normal form: the body as sent."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


BASE = {"queue": "support", "output": "Ships Monday.", "confidence": 0.5, "external_id": "e"}
OTHER = {"priority": 51, "input": "q", "context": ["c"], "model": {"name": "m"},
         "metadata": {"k": 1}}
JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False,
              allow_infinity=False), st.text()),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=10)


def test_the_defaults_are_the_schemas_and_build_items():
    assert DEFAULTS["priority"] == ITEM_IN["properties"]["priority"]["default"]
    assert set(DEFAULTS) <= set(ITEM_IN["properties"])


@pytest.mark.parametrize("field", sorted(DEFAULTS))
def test_a_default_written_out_hashes_as_left_out(field):
    assert body_hash({**BASE, field: DEFAULTS[field]}) == body_hash(BASE)
    assert body_hash({**BASE, field: OTHER[field]}) != body_hash(BASE)


def test_an_integral_float_priority_is_the_default_too():
    assert body_hash({**BASE, "priority": 50.0}) == body_hash(BASE)
    assert normal_form({**BASE, "input": 0, "context": {}, "metadata": []}) == {
        **BASE, "input": 0, "context": {}, "metadata": []}


@settings(max_examples=200, deadline=None)
@given(output=JSON, extra=st.dictionaries(st.sampled_from(sorted(OTHER)), JSON, max_size=5))
def test_a_body_without_defaults_written_out_keeps_its_old_hash(output, extra):
    payload = {**BASE, "output": output, **{k: v for k, v in extra.items()
                                             if v != DEFAULTS[k]}}
    assert body_hash(payload) == legacy_hash(payload)
    assert hash_matches(legacy_hash(payload), payload, body_hash(payload))


@pytest.mark.parametrize("stored_fields", [
    fields for n in range(len(DEFAULTS) + 1) for fields in combinations(sorted(DEFAULTS), n)])
def test_an_item_stored_with_the_old_hash_replays_however_defaults_are_spelled(stored_fields):
    stored = {**BASE, **{f: DEFAULTS[f] for f in stored_fields}}
    old = legacy_hash(stored)
    for n in range(len(DEFAULTS) + 1):
        for fields in combinations(sorted(DEFAULTS), n):
            replay = {**BASE, **{f: DEFAULTS[f] for f in fields}}
            assert hash_matches(old, replay, body_hash(replay)), (stored_fields, fields)
    different = {**stored, "output": "Ships Tuesday."}
    assert not hash_matches(old, different, body_hash(different))
    for field in DEFAULTS:
        changed = {**stored, field: OTHER[field]}
        assert not hash_matches(old, changed, body_hash(changed)), field


def test_an_old_hash_of_a_float_priority_replays_when_sent_identically():
    stored = {**BASE, "priority": 50.0, "context": []}
    assert hash_matches(legacy_hash(stored), stored, body_hash(stored))
