"""`review simulate`: the CLI's figures against review.adaptive.simulation.simulate run directly,
on the example data (docs/examples/labelled.csv) and on files that should be refused cleanly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from review.adaptive.simulation import AdaptivePolicy, FixedPolicy, load_labelled, simulate
from review.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "labelled.csv"

DEFAULTS = {
    "adaptive@0.02": AdaptivePolicy(0.02, 0.95, audit_rate=0.05, recompute_every=100),
    "fixed@0.8": FixedPolicy(0.8, audit_rate=0.05),
    "fixed@0.9": FixedPolicy(0.9, audit_rate=0.05),
}


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()

    def invoke(*args: str):
        return runner.invoke(main, args=["simulate", *args], catch_exceptions=False)

    return invoke


def parse_table(stdout: str) -> dict[str, list[str]]:
    """Policy name -> [auto-approved, share, human, escaped, escaped rate, final threshold]."""
    lines = stdout.splitlines()
    assert lines[1].split() == ["policy", "auto-approved", "share", "human", "escaped",
                                "escaped", "rate", "final", "threshold"]
    rows = {}
    for line in lines[2:]:
        name, *cells = line.rsplit(None, 6)  # names may hold spaces, figures do not
        rows[name] = cells
    return rows


def test_table_agrees_with_direct_simulation(cli):
    result = cli(str(EXAMPLE))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == f"5000 rows from {EXAMPLE}, seed 0"
    assert "replaying" in result.stderr  # the progress bar stays out of stdout
    table = parse_table(result.stdout)
    expected = simulate(load_labelled(EXAMPLE), DEFAULTS, seed=0)
    assert list(table) == list(expected)
    for name, r in expected.items():
        assert table[name] == [str(r.auto_approved), f"{r.auto_share:.1%}", str(r.human),
                               str(r.escaped_errors), f"{r.escaped_rate:.2%}",
                               f"{r.final_threshold:g}"]
        assert r.total == 5000 and r.auto_approved + r.human == 5000
    adaptive, fixed = expected["adaptive@0.02"], expected["fixed@0.8"]
    # The point of the example: the adaptive policy holds its target where 0.8 does not.
    assert adaptive.escaped_rate <= fixed.escaped_rate
    assert adaptive.escaped_rate <= 0.02 < fixed.escaped_rate
    assert adaptive.auto_approved > 0


def test_json_output_parses_and_matches(cli):
    result = cli(str(EXAMPLE), "--json", "--seed", "7", "--max-error-rate", "0.02",
                 "--max-error-rate", "0.05", "--auto-approve-at", "0.95", "--audit-rate", "0.1",
                 "--recompute-every", "250", "--confidence-level", "0.9")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    policies = {
        "adaptive@0.02": AdaptivePolicy(0.02, 0.9, audit_rate=0.1, recompute_every=250),
        "adaptive@0.05": AdaptivePolicy(0.05, 0.9, audit_rate=0.1, recompute_every=250),
        "fixed@0.95": FixedPolicy(0.95, audit_rate=0.1),
    }
    expected = simulate(load_labelled(EXAMPLE), policies, seed=7)
    assert (data["file"], data["rows"], data["seed"]) == (str(EXAMPLE), 5000, 7)
    assert [p["name"] for p in data["policies"]] == list(policies)
    for entry in data["policies"]:
        r = expected[entry["name"]]
        assert entry["kind"] == ("adaptive" if entry["name"].startswith("adaptive") else "fixed")
        assert (entry["auto_approved"], entry["human"], entry["escaped_errors"],
                entry["final_threshold"]) == (r.auto_approved, r.human, r.escaped_errors,
                                              r.final_threshold)
        assert entry["escaped_rate"] == pytest.approx(r.escaped_rate)
    assert data["policies"][0]["params"]["recompute_every"] == 250
    # A looser target approves at least as much.
    assert expected["adaptive@0.05"].auto_approved >= expected["adaptive@0.02"].auto_approved


@pytest.mark.parametrize("name, content, message", [
    ("bad.csv", "confidence,correct\n0.5,true\n0.7,maybe\n", "line 3: correct 'maybe'"),
    ("range.csv", "confidence,correct\n1.5,true\n", "line 2: confidence 1.5 outside [0, 1]"),
    ("header.csv", "score,label\n0.5,true\n", "CSV header must include confidence and correct"),
    ("empty.csv", "", "CSV header must include confidence and correct"),
    ("only-header.csv", "confidence,correct\n", "no labelled rows"),
    ("bad.jsonl", '{"confidence": 0.5, "correct": true}\n{oops\n', "line 2: invalid JSON"),
    ("binary.csv", b"\xff\xfe\x00garbage", "not UTF-8 text"),
])
def test_bad_file_is_a_clean_error(cli, tmp_path, name, content, message):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    result = cli(str(path))  # catch_exceptions=False: a traceback would fail the test
    assert result.exit_code == 1
    assert f"Error: {path}: " in result.output and message in result.output
    assert "Traceback" not in result.output and result.stdout == ""


def test_missing_file_and_bad_option_are_usage_errors(cli, tmp_path):
    missing = cli(str(tmp_path / "nope.csv"))
    assert missing.exit_code == 2 and "does not exist" in missing.output
    zero = cli(str(EXAMPLE), "--max-error-rate", "0")
    assert zero.exit_code == 2 and "0<x<1" in zero.output


def test_queue_policies_from_the_database(cli, make_queue):
    make_queue("support", auto_approve_at=0.85, audit_rate=0.1)
    make_queue("safety", max_error_rate=0.03, confidence_level=0.9, audit_rate=0.02)
    rows = load_labelled(EXAMPLE)

    fixed = cli(str(EXAMPLE), "--queue", "support", "--json")
    assert fixed.exit_code == 0, fixed.output
    entry = json.loads(fixed.stdout)["policies"][-1]
    assert entry["name"] == "queue support (fixed@0.85)" and entry["kind"] == "fixed"
    assert entry["params"] == {"auto_approve_at": 0.85, "audit_rate": 0.1}
    r = simulate(rows, {"q": FixedPolicy(0.85, 0.1)})["q"]
    assert (entry["auto_approved"], entry["escaped_errors"]) == (r.auto_approved,
                                                                  r.escaped_errors)

    adaptive = cli(str(EXAMPLE), "--queue", "safety", "--recompute-every", "200")
    assert adaptive.exit_code == 0, adaptive.output
    table = parse_table(adaptive.stdout)
    assert list(table)[-1] == "queue safety (adaptive@0.03)"
    r = simulate(rows, {"q": AdaptivePolicy(0.03, 0.9, audit_rate=0.02,
                                            recompute_every=200)})["q"]
    assert table["queue safety (adaptive@0.03)"][:5] == [
        str(r.auto_approved), f"{r.auto_share:.1%}", str(r.human), str(r.escaped_errors),
        f"{r.escaped_rate:.2%}"]

    unknown = cli(str(EXAMPLE), "--queue", "nope")
    assert unknown.exit_code == 2 and "no queue 'nope'" in unknown.output


def test_progress_counts_every_replayed_row():
    rows = load_labelled(EXAMPLE)[:2345]
    steps: list[int] = []
    with_progress = simulate(rows, DEFAULTS, seed=1, progress=steps.append)
    assert sum(steps) == len(rows) * len(DEFAULTS)
    assert len(steps) == 3 * len(DEFAULTS)  # every 1000 rows, then the rest, per policy
    assert with_progress == simulate(rows, DEFAULTS, seed=1)


def test_example_file_is_reproducible_and_degrades_at_the_end():
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "make_labelled.py"), "--out", "-"],
                         capture_output=True, text=True, check=True).stdout
    assert out == EXAMPLE.read_text()
    rows = load_labelled(EXAMPLE)
    cut = int(len(rows) * 0.8)

    def error_rate(part: list[tuple[float, bool]]) -> float:
        high = [ok for c, ok in part if c >= 0.9]
        return 1 - sum(high) / len(high)

    assert error_rate(rows[cut:]) > 2 * error_rate(rows[:cut])
