"""Issue 15's done-when figures on labelled synthetic streams (review/adaptive/scenarios.py),
in-process, and `review simulate --scenarios` printing them."""

from __future__ import annotations

from review.adaptive import scenarios


def test_silent_update_is_caught_with_few_wrong_automatic_approvals():
    runs = [scenarios.silent_update(seed) for seed in range(20)]
    assert max(r.wrong_auto_after_switch for r in runs) <= 10
    delays = [r.detected_after for r in runs if r.detected_after is not None]
    assert delays and max(delays) <= 100
    assert sum(r.escaped_rate < 0.02 for r in runs) >= 19  # measured: 19 of 20


def test_steady_model_stays_under_target_in_95_percent_of_runs():
    result = scenarios.steady(runs=20)
    assert result.under_target >= 19
    # Reported, not yet the 80%: the learner reaches about half the oracle's share.
    assert result.mean_auto_share > 0.4 * result.mean_oracle_share


def test_backlog_breaker_trips_within_one_window_when_audits_jump_the_queue():
    jump = scenarios.backlog(True)
    line = scenarios.backlog(False)
    assert jump.tripped and jump.audited_after_injection <= 100
    assert jump.reviewed_after_injection < 400 < line.reviewed_after_injection


def test_review_simulate_scenarios_prints_the_figures(app):
    from review.cli import main

    result = app.test_cli_runner().invoke(main, args=["simulate", "--scenarios"])
    assert result.exit_code == 0, result.output
    assert "silent update" in result.output and "backlog of 1500" in result.output
    assert "of the oracle's" in result.output
