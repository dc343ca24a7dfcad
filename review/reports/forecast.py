"""Forecast a queue's backlog for the next hours, and the reviewers the SLA needs.

Method. Two hourly series over the last HISTORY_DAYS: inflow (items created that need a
human: those with an SLA due time) and throughput (human decisions). Each is forecast
with additive Holt-Winters (level, trend and a 24-hour season; triple exponential
smoothing), its three smoothing constants chosen on a small grid by the one-step-ahead
squared error over the history. Under two days of history the hour-of-day mean stands in.
The backlog is then rolled forward from the open human backlog now:
`backlog[h+1] = max(0, backlog[h] + inflow[h] - throughput[h])`.

Staffing. Per forecast hour, Erlang C (M/M/N) gives the fewest reviewers N for which a new
item waits for a reviewer no longer than `sla - AHT` with probability SERVICE_LEVEL, where
AHT is the mean active review time (claim to verdict) over the history. On top, the
reviewers needed to clear the current backlog within one SLA (`backlog * AHT / sla`).
Assumptions, returned with the figures: arrivals within an hour are Poisson at the
forecast rate; review times are exponential with mean AHT; one queue served first come
first served by interchangeable reviewers who do nothing else; no abandonment; each hour
is in steady state. Throughput history understates capacity when the queue ran empty.

Everything is pure Python (no numpy): a few hundred points and a 125-point grid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from review.core.models import Item, Queue, Review
from review.core.sql_time import as_datetime, floor_hour, hour_floor, seconds_between

SEASON = 24
HISTORY_DAYS = 14
SERVICE_LEVEL = 0.95
DEFAULT_AHT_SECONDS = 120.0
GRID = (0.05, 0.15, 0.3, 0.5, 0.8)
TREND_GRID = (0.0, 0.02, 0.1, 0.2, 0.4)
ASSUMPTIONS = (
    "arrivals within an hour are Poisson at the forecast rate",
    "review times are exponential with mean AHT (claim to verdict over the history)",
    "one queue, first come first served, interchangeable reviewers doing nothing else",
    "no abandonment; each hour is in steady state",
    "throughput history understates capacity for hours when the queue ran empty",
)


@dataclass
class Fit:
    alpha: float
    beta: float
    gamma: float
    sse: float
    level: float
    trend: float
    season: list[float]

    def forecast(self, horizon: int, start_phase: int) -> list[float]:
        """`horizon` values; `start_phase` is the season index of the first one."""
        return [max(0.0, self.level + (h + 1) * self.trend
                    + self.season[(start_phase + h) % len(self.season)])
                for h in range(horizon)]


def _run(series: list[float], alpha: float, beta: float, gamma: float, m: int) -> Fit:
    first, second = series[:m], series[m:2 * m]
    level = sum(first) / m
    trend = (sum(second) - sum(first)) / (m * m)
    season = [x - level for x in first]
    sse = 0.0
    for t in range(m, len(series)):
        predicted = level + trend + season[t % m]
        error = series[t] - predicted
        sse += error * error
        previous = level
        level = alpha * (series[t] - season[t % m]) + (1 - alpha) * (level + trend)
        trend = beta * (level - previous) + (1 - beta) * trend
        season[t % m] = gamma * (series[t] - level) + (1 - gamma) * season[t % m]
    # Rotate so season[0] is the phase of the hour after the series' last.
    return Fit(alpha, beta, gamma, sse, level, trend, season)


def holt_winters(series: list[float], m: int = SEASON) -> Fit:
    """Additive Holt-Winters fitted by grid search on one-step-ahead squared error.
    Needs at least two seasons; the returned season is indexed by t % m."""
    if len(series) < 2 * m:
        raise ValueError(f"Holt-Winters needs at least {2 * m} points")
    best: Fit | None = None
    for alpha in GRID:
        for beta in TREND_GRID:
            for gamma in GRID:
                fit = _run(series, alpha, beta, gamma, m)
                if best is None or fit.sse < best.sse:
                    best = fit
    assert best is not None
    return best


def forecast_series(series: list[float], horizon: int, m: int = SEASON) -> tuple[list[float],
                                                                                 str]:
    """(the next `horizon` values, the method used)."""
    if len(series) >= 2 * m:
        return holt_winters(series, m).forecast(horizon, len(series) % m), "holt-winters"
    if not series:
        return [0.0] * horizon, "none (no history)"
    by_phase: dict[int, list[float]] = {}
    for t, x in enumerate(series):
        by_phase.setdefault(t % m, []).append(x)
    mean = sum(series) / len(series)
    return ([sum(by_phase.get((len(series) + h) % m, [mean]))
             / len(by_phase.get((len(series) + h) % m, [mean])) for h in range(horizon)],
            "hour-of-day mean (under two days of history)")


def backtest(series: list[float], horizon: int = SEASON, folds: int = 7,
             m: int = SEASON) -> dict[str, float]:
    """Rolling-origin back-test: fit on everything before each of the last `folds`
    windows of `horizon` points, forecast the window; MAPE (over actuals > 0) and WAPE,
    with the seasonal-naive forecast (same hour yesterday) as the baseline."""
    errors, naive, actual_sum, abs_err, abs_naive = [], [], 0.0, 0.0, 0.0
    for fold in range(folds, 0, -1):
        cut = len(series) - fold * horizon
        if cut < 2 * m:
            continue
        predicted, _method = forecast_series(series[:cut], horizon, m)
        for h in range(horizon):
            actual = series[cut + h]
            baseline = series[cut + h - m]
            actual_sum += abs(actual)
            abs_err += abs(actual - predicted[h])
            abs_naive += abs(actual - baseline)
            if actual > 0:
                errors.append(abs(actual - predicted[h]) / actual)
                naive.append(abs(actual - baseline) / actual)
    if not errors:
        raise ValueError("not enough history for a back-test")
    return {"mape": sum(errors) / len(errors), "naive_mape": sum(naive) / len(naive),
            "wape": abs_err / actual_sum, "naive_wape": abs_naive / actual_sum,
            "points": len(errors)}


# --- Erlang C --------------------------------------------------------------------


def erlang_c(servers: int, load: float) -> float:
    """Probability an arrival waits (M/M/N), offered load `load` Erlangs; 1 if unstable."""
    if servers <= load:
        return 1.0
    blocking = 1.0  # Erlang B by its stable recursion
    for n in range(1, servers + 1):
        blocking = load * blocking / (n + load * blocking)
    return servers * blocking / (servers - load * (1 - blocking))


def service_level(servers: int, load: float, aht: float, target_wait: float) -> float:
    """P(wait <= target_wait) with `servers` reviewers."""
    if servers <= load:
        return 0.0
    return 1 - erlang_c(servers, load) * math.exp(-(servers - load) * target_wait / aht)


def reviewers_needed(per_hour: float, aht: float, target_wait: float,
                     level: float = SERVICE_LEVEL) -> int:
    """Fewest reviewers so that P(wait <= target_wait) >= level at `per_hour` arrivals."""
    if per_hour <= 0:
        return 0
    load = per_hour * aht / 3600
    servers = max(1, math.floor(load) + 1)
    while service_level(servers, load, aht, max(0.0, target_wait)) < level:
        servers += 1
    return servers


# --- The queue's forecast ----------------------------------------------------------


def _hourly(session: Session, column: Any, where: list[Any], start: datetime,
            hours: int) -> list[float]:
    bucket = hour_floor(session, column)
    series = [0.0] * hours
    for hour, count in session.execute(select(bucket, func.count()).where(*where)
                                       .group_by(bucket)):
        index = int((as_datetime(hour) - start).total_seconds() // 3600)
        if 0 <= index < hours:
            series[index] += count
    return series


def mean_review_seconds(session: Session, queue: Queue, since: datetime) -> float | None:
    spent = seconds_between(session, Review.claimed_at, Review.created_at)
    value = session.scalar(select(func.avg(spent)).where(
        Review.queue_id == queue.id, Review.created_at >= since,
        Review.claimed_at.is_not(None)))
    return float(value) if value else None


def queue_forecast(session: Session, queue: Queue, now: datetime, horizon: int = 24,
                   history_days: int = HISTORY_DAYS) -> dict[str, Any]:
    """The backlog forecast and staffing of `queue` for the `horizon` hours after `now`."""
    first_hour = floor_hour(now) + timedelta(hours=1)
    start = first_hour - timedelta(days=history_days)
    hours = history_days * SEASON  # whole hours only: the current one is still filling
    inflow_hist = _hourly(session, Item.created_at, [
        Item.queue_id == queue.id, Item.due_at.is_not(None), Item.created_at >= start,
        Item.created_at < floor_hour(now)], start, hours - 1)
    done_hist = _hourly(session, Item.decided_at, [
        Item.queue_id == queue.id, Item.decided_by_kind == "reviewer",
        Item.decided_at >= start, Item.decided_at < floor_hour(now)], start, hours - 1)
    # The series end with the last whole hour; the forecast starts with the current one.
    inflow, method = forecast_series(_trim(inflow_hist), horizon + 1)
    done, _method = forecast_series(_trim(done_hist), horizon + 1)
    backlog = session.scalar(select(func.count()).where(
        Item.queue_id == queue.id, Item.status.in_(("pending", "in_review")))) or 0
    measured = mean_review_seconds(session, queue, start)
    aht = measured or DEFAULT_AHT_SECONDS
    target = max(0.0, queue.sla_seconds - aht)
    clear = math.ceil(backlog * aht / queue.sla_seconds) if backlog else 0
    rows, level = [], float(backlog)
    for h in range(1, horizon + 1):
        level = max(0.0, level + inflow[h] - done[h])
        steady = reviewers_needed(inflow[h], aht, target)
        rows.append({"start": (first_hour + timedelta(hours=h - 1)).isoformat() + "Z",
                     "inflow": round(inflow[h], 2), "throughput": round(done[h], 2),
                     "backlog": round(level, 1), "reviewers_needed": steady})
    return {"queue": queue.slug, "as_of": now.isoformat() + "Z", "method": method,
            "history_hours": len(_trim(inflow_hist)), "season_hours": SEASON,
            "backlog_now": backlog, "sla_seconds": queue.sla_seconds,
            "aht_seconds": round(aht, 1), "aht_measured": measured is not None,
            "service_level": SERVICE_LEVEL, "target_wait_seconds": round(target, 1),
            "reviewers_to_clear_backlog": clear, "peak_reviewers_needed": max(
                (r["reviewers_needed"] for r in rows), default=0) + clear,
            "hours": rows, "assumptions": list(ASSUMPTIONS)}


def _trim(series: list[float]) -> list[float]:
    """Drop the empty hours before the queue's first item: they are not history."""
    for index, value in enumerate(series):
        if value:
            return series[index:]
    return []
