"""The router as a pure function."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from review.routing import Policy, audit_sampled, route_item

POLICY = Policy(auto_approve_at=0.9, review_below=0.6, audit_rate=0.0,
                blocked_phrases=["fraudulent claim"], max_output_chars=50)


def test_paths():
    assert route_item(POLICY, item_id="a", output="fine", confidence=0.95).path == "auto"
    assert route_item(POLICY, item_id="a", output="fine", confidence=0.9).path == "auto"
    assert route_item(POLICY, item_id="a", output="fine", confidence=0.7).path == "check"
    assert route_item(POLICY, item_id="a", output="fine", confidence=0.59).path == "human"
    assert route_item(POLICY, item_id="a", output="fine", confidence=0.6).path == "check"


def test_no_checker_sends_ambiguous_to_humans():
    policy = Policy(auto_approve_at=0.9, review_below=0.6, has_checker=False)
    route = route_item(policy, item_id="a", output="fine", confidence=0.7)
    assert route.path == "human" and "no checker" in route.reasons[0]


@given(confidence=st.floats(0, 1), item_id=st.text(min_size=1, max_size=20))
def test_validation_failures_never_auto_approve(confidence, item_id):
    route = route_item(POLICY, item_id=item_id, output="a fraudulent claim",
                       confidence=confidence)
    assert route.path == "human"
    assert route.priority_boost > 0


@given(item_id=st.text(min_size=1, max_size=30), rate=st.floats(0, 1))
def test_audit_sampling_is_deterministic(item_id, rate):
    assert audit_sampled(item_id, rate) == audit_sampled(item_id, rate)


def test_audit_rate_bounds():
    assert not any(audit_sampled(str(i), 0.0) for i in range(100))
    assert all(audit_sampled(str(i), 1.0) for i in range(100))
    share = sum(audit_sampled(str(i), 0.1) for i in range(10000)) / 10000
    assert 0.08 < share < 0.12
