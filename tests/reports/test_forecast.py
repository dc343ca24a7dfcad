"""Forecast and staffing (issue 18, item 4): Erlang C against known values, the
Holt-Winters back-test on generated history (its error is what docs/overload-and-cost.md
reports), and the queue forecast from the database over the API and the CLI."""

from __future__ import annotations

import math
import random
from datetime import timedelta

import pytest
from sqlalchemy import insert

from review.core.clock import utcnow
from review.core.db import get_session
from review.core.models import Item, Review
from review.reports.forecast import (
    backtest,
    erlang_c,
    forecast_series,
    queue_forecast,
    reviewers_needed,
    service_level,
)


def poisson(rng: random.Random, rate: float) -> int:
    limit, k, p = math.exp(-rate), 0, 1.0
    while True:
        p *= rng.random()
        if p < limit:
            return k
        k += 1


def generated_history(days: int, base: float, amplitude: float, seed: int = 18,
                      growth: float = 0.0) -> list[float]:
    """Hourly arrivals: a daily cycle peaking mid-afternoon, Poisson noise, slow growth."""
    rng = random.Random(seed)
    return [float(poisson(rng, max(0.5, (base + amplitude * math.sin(
        2 * math.pi * ((t % 24) - 9) / 24)) * (1 + growth * t / 24)))) for t in range(days * 24)]


def test_erlang_c_matches_known_values():
    assert erlang_c(11, 10.0) == pytest.approx(0.6821, abs=1e-4)  # the textbook case
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)  # M/M/2 closed form
    assert erlang_c(5, 5.0) == 1.0  # unstable: everyone waits
    # 100 calls/h of 3 min (5 Erlangs), 80 % answered within 20 s needs 8 agents.
    assert reviewers_needed(100, 180, 20, level=0.8) == 8
    assert service_level(8, 5.0, 180, 20) >= 0.8 > service_level(7, 5.0, 180, 20)
    assert reviewers_needed(0, 120, 3000) == 0
    needs = [reviewers_needed(rate, 120, 600) for rate in (10, 50, 100, 400)]
    assert needs == sorted(needs) and needs[-1] > needs[0]


@pytest.mark.parametrize(("base", "amplitude"), [(30, 25), (100, 60)])
def test_backtest_on_generated_history(base, amplitude, capsys):
    series = generated_history(28, base, amplitude, growth=0.005)
    result = backtest(series, horizon=24, folds=7)
    with capsys.disabled():
        print(f"\nback-test base {base}/h: MAPE {result['mape']:.1%} (seasonal naive "
              f"{result['naive_mape']:.1%}), WAPE {result['wape']:.1%} (naive "
              f"{result['naive_wape']:.1%}) over {result['points']} hours")
    assert result["wape"] < result["naive_wape"]
    assert result["mape"] < (0.3 if base < 50 else 0.15)


def test_short_history_falls_back_to_the_hour_of_day_mean():
    values, method = forecast_series([1.0, 2.0, 3.0], 4, m=3)
    assert method.startswith("hour-of-day mean") and values == [1.0, 2.0, 3.0, 1.0]
    assert forecast_series([], 2)[0] == [0.0, 0.0]


def _history(app, queue, reviewer, now):
    rng = random.Random(7)
    items, reviews = [], []
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(days=4)
    for hour in range(4 * 24):
        at = start + timedelta(hours=hour)
        rate = max(1.0, 6 + 5 * math.sin(2 * math.pi * ((at.hour - 9) / 24)))
        for n in range(poisson(rng, rate)):
            created = at + timedelta(minutes=rng.randrange(60))
            if created >= now:
                continue
            item_id = f"f{hour:03d}{n:03d}"
            decided = created + timedelta(minutes=rng.randrange(5, 50))
            done = decided < now - timedelta(minutes=30)
            items.append({"id": item_id, "queue_id": queue.id, "submitter": "up",
                          "body_hash": "h", "route_path": "human", "confidence": 0.1,
                          "priority": 50, "created_at": created,
                          "due_at": created + timedelta(hours=1),
                          "status": "approved" if done else "pending",
                          "decided_at": decided if done else None,
                          "decided_by_kind": "reviewer" if done else None})
            if done:
                reviews.append({"item_id": item_id, "queue_id": queue.id,
                                "reviewer_id": reviewer.id, "outcome": "approve",
                                "claimed_at": decided - timedelta(seconds=90),
                                "created_at": decided})
    with app.app_context():
        session = get_session()
        session.execute(insert(Item), items)
        session.execute(insert(Review), reviews)
        session.commit()


def test_queue_forecast_over_the_api_and_the_cli(app, client, make_queue, make_user,
                                                 make_key):
    queue = make_queue("steady", sla_seconds=1800)
    reviewer = make_user("ann", queues=("steady",))
    now = utcnow()
    _history(app, queue, reviewer, now)
    with app.app_context():
        report = queue_forecast(get_session(), queue, now, horizon=12)
    assert report["method"] == "holt-winters"
    assert report["aht_measured"] and report["aht_seconds"] == pytest.approx(90, abs=1)
    assert len(report["hours"]) == 12 and report["assumptions"]
    level = report["backlog_now"]
    for row in report["hours"]:
        level = max(0.0, level + row["inflow"] - row["throughput"])
        assert row["backlog"] == pytest.approx(level, abs=0.1)
        assert row["reviewers_needed"] == reviewers_needed(
            row["inflow"], report["aht_seconds"], 1800 - report["aht_seconds"])
    busiest = max(report["hours"], key=lambda r: r["inflow"])
    assert busiest["reviewers_needed"] >= 1
    key = {"Authorization": f"Bearer {make_key('boss', 'admin')}"}
    resp = client.get("/api/v1/reports/forecast?queue=steady&hours=6", headers=key)
    assert resp.status_code == 200 and len(resp.get_json()["hours"]) == 6
    for bad in ("hours=0", "hours=999", "hours=x", "hours=%C2%B2", "hours=" + "9" * 5000):
        resp = client.get(f"/api/v1/reports/forecast?queue=steady&{bad}", headers=key)
        assert resp.get_json()["error"]["code"] == "bad_hours"
    assert client.get("/api/v1/reports/forecast", headers=key).status_code == 400
    from review.cli import main

    result = app.test_cli_runner().invoke(main, ["reports", "forecast", "--queue", "steady",
                                                 "--hours", "3"])
    assert result.exit_code == 0, result.output
    assert "assumptions: arrivals within an hour are Poisson" in result.output
