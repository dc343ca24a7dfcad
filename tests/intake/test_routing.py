"""The router as a pure function."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from review.intake.routing import Policy, audit_sampled, route_item

POLICY = Policy(auto_approve_at=0.9, review_below=0.6, audit_rate=0.0,
                blocked_phrases=["fraudulent claim"], max_output_chars=50,
                checker_scope="ambiguous")


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


# --- adaptive queues (review/adaptive/learning.py hands the router its learned threshold) ---------
ADAPTIVE = Policy(auto_approve_at=0.93, review_below=0.6, audit_rate=0.0, adaptive=True,
                  checker_scope="ambiguous")


def test_adaptive_live_uses_the_learned_threshold():
    route = route_item(ADAPTIVE, item_id="a", output="fine", confidence=0.95)
    assert route.path == "auto" and "learned threshold 0.93" in route.reasons[0]
    assert route_item(ADAPTIVE, item_id="a", output="fine", confidence=0.92).path == "check"


def test_version_without_evidence_is_routed_as_shadow():
    policy = replace(ADAPTIVE, auto_approve_at=None)
    route = route_item(policy, item_id="a", output="fine", confidence=0.999)
    assert route.path == "human" and route.shadow_route == "check"
    assert route.reasons[0].startswith("shadow: no evidence yet")
    low = route_item(policy, item_id="a", output="fine", confidence=0.3)
    assert low.path == "human" and low.shadow_route is None
    assert low.reasons[0].startswith("shadow: no evidence") and "review_below" in low.reasons[1]


def test_shadow_stage_records_what_the_router_would_do():
    policy = replace(ADAPTIVE, rollout_stage="shadow")
    route = route_item(policy, item_id="a", output="fine", confidence=0.95)
    assert route.path == "human" and route.shadow_route == "auto"
    assert "would have routed auto" in route.reasons[1]


def test_partial_stage_sends_its_share_live_and_the_rest_to_humans():
    policy = replace(ADAPTIVE, rollout_stage="25%")
    routes = [route_item(policy, item_id=f"item-{i}", output="fine", confidence=0.99)
              for i in range(2000)]
    live = sum(r.path == "auto" for r in routes)
    assert 400 <= live <= 600
    held = [r for r in routes if r.path == "human"]
    assert all(r.shadow_route == "auto" and "rollout at 25%" in r.reasons[0] for r in held)


def test_open_breaker_sends_everything_to_humans_even_fixed_queues():
    for policy in (replace(ADAPTIVE, breaker_open=True), replace(POLICY, breaker_open=True)):
        route = route_item(policy, item_id="a", output="fine", confidence=0.99)
        assert route.path == "human" and route.shadow_route == "auto"
        assert route.reasons[0].startswith("circuit breaker open")


def test_validation_failures_are_not_shadowed():
    policy = replace(ADAPTIVE, rollout_stage="shadow", blocked_phrases=["fraudulent"])
    route = route_item(policy, item_id="a", output="fraudulent", confidence=0.99)
    assert route.path == "human" and route.shadow_route is None


def test_withdrawn_threshold_keeps_recording_would_be_auto_approvals():
    policy = replace(ADAPTIVE, auto_approve_at=None, shadow_threshold=0.9)
    route = route_item(policy, item_id="a", output="fine", confidence=0.95)
    assert route.path == "human" and route.shadow_route == "auto"
    assert "withdrawn" in route.reasons[0] and "withdrawn threshold 0.9" in route.reasons[1]


# --- checker scope (issue 15): checks gate confident items too --------------------------------
def test_scope_all_sends_confident_items_to_the_check():
    policy = replace(POLICY, checker_scope="all")
    route = route_item(policy, item_id="a", output="fine", confidence=0.99)
    assert route.path == "check" and "approval needs a check pass" in route.reasons[0]
    assert route_item(policy, item_id="a", output="fine", confidence=0.7).path == "check"
    assert route_item(policy, item_id="a", output="fine", confidence=0.5).path == "human"


def test_scope_all_is_the_default_and_no_checker_means_no_gate():
    assert Policy().checker_scope == "all"
    policy = replace(POLICY, checker_scope="all", has_checker=False)
    assert route_item(policy, item_id="a", output="fine", confidence=0.99).path == "auto"


def test_a_grounding_checker_gates_only_items_with_context():
    policy = replace(POLICY, checker_scope="all", checker_needs_context=True)
    with_context = route_item(policy, item_id="a", output="x", confidence=0.99, has_context=True)
    without = route_item(policy, item_id="a", output="x", confidence=0.99, has_context=False)
    assert with_context.path == "check" and without.path == "auto"


def test_audit_samples_go_to_the_top_of_the_human_queue():
    policy = replace(POLICY, audit_rate=1.0)
    route = route_item(policy, item_id="a", output="fine", confidence=0.95)
    assert route.audit_sampled and route.priority_boost >= 100


def test_checker_scope_reads_unknown_values_as_all():
    from review.adaptive.thresholds import checker_scope

    assert checker_scope({"type": "grounding"}) == "all"
    assert checker_scope({"type": "grounding", "scope": "bogus"}) == "all"
    assert checker_scope({"type": "grounding", "scope": "ambiguous"}) == "ambiguous"
    assert checker_scope(None) == "all"
