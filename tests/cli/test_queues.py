"""`review queues show|stage|breaker reset` through Click's test runner, on state made by a
real learning pass."""

from __future__ import annotations

import json

import pytest

from review.cli import main
from tests.adaptive_data import learn, policy_changes, queue_named, seed_decisions, trip_breaker


@pytest.fixture
def cli(app, monkeypatch):
    monkeypatch.setenv("USER", "olga")
    runner = app.test_cli_runner()

    def invoke(*args: str):
        # Exceptions are caught: an error must come out as a message and exit code 1.
        return runner.invoke(main, args=list(args))

    return invoke


@pytest.fixture
def learned(app, make_queue):
    make_queue("support", max_error_rate=0.02)
    seed_decisions(app, "support", 200, model_version="v1", prompt_version="p1")
    seed_decisions(app, "support", 3, model_version="v2", prompt_version=None)
    learn(app, "support")


def test_show_prints_stage_breaker_and_versions(cli, learned):
    result = cli("queues", "show", "support")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "target error rate 0.02 at 0.95 confidence" in out
    assert "rollout stage shadow" in out and "breaker closed" in out
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["model", "prompt"])
    rows = {line.split()[0]: line.split() for line in lines[header + 1:]}
    model, prompt, threshold, evidence, errors, bound = rows["v1"]
    assert prompt == "p1" and 0.5 <= float(threshold) <= 0.99
    assert (evidence, errors) == ("200", "0") and 0 < float(bound) <= 0.02
    assert rows["v2"] == ["v2", "-", "none", "3", "0", "-"]


def test_show_json_is_the_api_state(cli, learned, client, make_key):
    shown = json.loads(cli("queues", "show", "support", "--json").output)
    api = client.get("/api/v1/queues/support",
                     headers={"Authorization": f"Bearer {make_key('ops', 'admin')}"}).get_json()
    assert shown == api
    assert {v["model_version"] for v in shown["adaptive"]["versions"]} == {"v1", "v2"}


def test_show_fixed_queue(cli, make_queue):
    make_queue("plain", auto_approve_at=0.8)
    out = cli("queues", "show", "plain").output
    assert "fixed auto_approve_at 0.8" in out and "adaptive routing is off" in out


def test_stage_sets_and_audits(cli, app, learned):
    result = cli("queues", "stage", "support", "50%", "--note", "manual jump")
    assert result.exit_code == 0 and "rollout stage 50%" in result.output
    assert queue_named(app, "support").rollout_stage == "50%"
    last = policy_changes(app, "support")[-1]
    assert (last.changed_by, last.changes) == \
        ("cli:olga", {"rollout_stage": ["shadow", "50%"], "reason": "manual jump"})
    again = cli("queues", "stage", "support", "50%")
    assert again.exit_code == 0 and "(unchanged)" in again.output


def test_breaker_reset(cli, app, make_queue):
    make_queue("support", max_error_rate=0.02)
    closed = cli("queues", "breaker", "reset", "support")
    assert closed.exit_code == 1 and "is not open" in closed.output
    trip_breaker(app, "support")
    assert "breaker OPEN: tripped" in cli("queues", "show", "support").output
    result = cli("queues", "breaker", "reset", "support", "--note", "checked by hand")
    assert result.exit_code == 0 and "breaker closed" in result.output
    queue = queue_named(app, "support")
    assert queue.breaker_open is False
    assert queue.breaker_reason == "reset by cli:olga: checked by hand"


@pytest.mark.parametrize("args, message", [
    (("queues", "show", "nope"), "no queue 'nope'"),
    (("queues", "stage", "nope", "5%"), "no queue 'nope'"),
    (("queues", "breaker", "reset", "nope"), "no queue 'nope'"),
    (("queues", "stage", "support", "33%"), "'33%' is not one of"),
])
def test_errors_are_messages_not_tracebacks(cli, make_queue, args, message):
    make_queue("support", max_error_rate=0.02)
    result = cli(*args)
    assert result.exit_code in (1, 2)
    assert message in result.output and "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
