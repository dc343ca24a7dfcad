"""Prometheus metrics at /metrics (prometheus-client text format).

Two kinds of series:

- Process counters, updated where the code runs: ingest requests, items and
  latency (`review_ingest_*`). Under gunicorn each process counts its own;
  set PROMETHEUS_MULTIPROC_DIR (an empty directory shared by the processes,
  wiped at deploy) and /metrics sums them through prometheus-client's
  MultiProcessCollector.
- Database-derived series, computed at scrape time by `DatabaseCollector`
  with a handful of grouped queries: backlog per queue and status, open SLA
  exposure, breaches, checks (verdicts and a latency histogram), webhook
  attempts and failures, open alerts, heartbeats. They are the same whatever
  process answers the scrape, so multi-process needs no care. The `_24h`
  series are gauges over a sliding 24 h window (read them directly; do not
  `rate()` them).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from review.adaptive.thresholds import live_share
from review.core.clock import utcnow
from review.core.liveness import liveness
from review.core.models import Alert, Item, LearnedThreshold, Queue, WebhookAttempt, WebhookDelivery
from review.reports.backlog import OPEN_STATUSES
from review.reports.cost import cost_totals

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
WINDOW = timedelta(hours=24)
CHECK_LATENCY_BUCKETS_MS = (50, 100, 250, 500, 1000, 2500, 5000, 10000)
STATUS_TO_ROUTE = {"approved": "auto", "checking": "check", "pending": "human"}

INGEST_REQUESTS = Counter("review_ingest_requests", "Ingest requests by endpoint and outcome",
                          ["endpoint", "outcome"])
INGEST_ITEMS = Counter("review_ingest_items", "Items created by ingest, by queue and route",
                       ["queue", "route"])
INGEST_SECONDS = Histogram(
    "review_ingest_seconds", "Ingest request latency; a batch is labelled queue=* route=*",
    ["endpoint", "queue", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
OVERFLOW_ITEMS = Counter(
    "review_overflow_items", "Items an overloaded queue's overflow policy handled, by action: "
    "rejected (429, not stored), fallback (decided at once), accepted (stored over the cap)",
    ["queue", "action"])


def count_overflow(counts: dict[tuple[str, str], int]) -> None:
    """Count the items an ingest request shed (or accepted over the cap), by queue."""
    for (queue, action), n in counts.items():
        OVERFLOW_ITEMS.labels(queue, action).inc(n)


class IngestObservation:
    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.queue = self.route = "*"
        self.outcome = "error"

    def item(self, queue: str, route: str, created: bool) -> None:
        self.queue, self.route = queue, route
        self.outcome = "created" if created else "replayed"
        if created:
            INGEST_ITEMS.labels(queue, route).inc()

    def batch(self, payloads: list[Any], results: list[dict[str, Any]]) -> None:
        self.outcome = "batch"
        for result in results:
            if result.get("result") == "created":
                queue = payloads[result["index"]]["queue"]
                INGEST_ITEMS.labels(queue, STATUS_TO_ROUTE.get(result["status"], "?")).inc()


@contextmanager
def observe_ingest(endpoint: str) -> Iterator[IngestObservation]:
    """Time one ingest request and count it, failed or not."""
    observation = IngestObservation(endpoint)
    started = time.perf_counter()
    try:
        yield observation
    finally:
        INGEST_REQUESTS.labels(endpoint, observation.outcome).inc()
        INGEST_SECONDS.labels(endpoint, observation.queue, observation.route).observe(
            time.perf_counter() - started)


class DatabaseCollector(Collector):
    """Series read from the database (and Redis heartbeats) at scrape time."""

    def __init__(self, session: Session, now: datetime | None = None) -> None:
        self.session = session
        self.now = now or utcnow()

    def collect(self) -> Iterator[Any]:
        slugs = dict(self.session.execute(select(Queue.id, Queue.slug)).all())
        yield from self._backlog(slugs)
        yield from self._breaches(slugs)
        yield from self._checks(slugs)
        yield from self._webhooks()
        yield from self._alerts()
        yield from self._adaptive()
        yield from self._cost()
        yield from self._liveness()

    def _backlog(self, slugs: dict[int, str]) -> Iterator[Any]:
        backlog = GaugeMetricFamily("review_backlog_items", "Open items by queue and status",
                                    labels=["queue", "status"])
        sla = GaugeMetricFamily("review_open_sla_items",
                                "Open items at risk or breached (SLA clock state)",
                                labels=["queue", "state"])
        oldest = GaugeMetricFamily("review_oldest_open_item_age_seconds",
                                   "Age of the oldest open item", labels=["queue"])
        counts: dict[tuple[str, str], int] = {}
        states: dict[tuple[str, str], int] = {}
        ages: dict[str, float] = {}
        for queue_id, status, state, count, first in self.session.execute(
                select(Item.queue_id, Item.status, Item.sla_state, func.count(),
                       func.min(Item.created_at))
                .where(Item.status.in_(OPEN_STATUSES))
                .group_by(Item.queue_id, Item.status, Item.sla_state)):
            slug = slugs.get(queue_id, str(queue_id))
            counts[(slug, status)] = counts.get((slug, status), 0) + count
            states[(slug, state)] = states.get((slug, state), 0) + count
            ages[slug] = max(ages.get(slug, 0.0), (self.now - first).total_seconds())
        for slug in slugs.values():
            for status in OPEN_STATUSES:
                backlog.add_metric([slug, status], counts.get((slug, status), 0))
            for state in ("at_risk", "breached"):
                sla.add_metric([slug, state], states.get((slug, state), 0))
            oldest.add_metric([slug], ages.get(slug, 0.0))
        yield from (backlog, sla, oldest)

    def _breaches(self, slugs: dict[int, str]) -> Iterator[Any]:
        decided = GaugeMetricFamily("review_sla_decided_24h",
                                    "Items with an SLA decided in the last 24 h",
                                    labels=["queue"])
        late = GaugeMetricFamily("review_sla_breaches_24h",
                                 "Of those, decided after their due time", labels=["queue"])
        rows = {queue_id: (count, int(n or 0)) for queue_id, count, n in self.session.execute(
            select(Item.queue_id, func.count(),
                   func.sum(case((Item.decided_at > Item.due_at, 1), else_=0)))
            .where(Item.queue_id.in_(list(slugs)), Item.decided_at.is_not(None),
                   Item.decided_at > self.now - WINDOW, Item.due_at.is_not(None))
            .group_by(Item.queue_id))}
        for queue_id, slug in slugs.items():
            count, n = rows.get(queue_id, (0, 0))
            decided.add_metric([slug], count)
            late.add_metric([slug], n)
        yield from (decided, late)

    def _checks(self, slugs: dict[int, str]) -> Iterator[Any]:
        verdicts = GaugeMetricFamily("review_check_verdicts_24h",
                                     "Secondary check verdicts in the last 24 h",
                                     labels=["queue", "verdict"])
        latency = HistogramMetricFamily("review_check_latency_ms_24h",
                                        "Secondary check latency (ms), last 24 h",
                                        labels=["queue"])
        buckets = [func.sum(case((Item.check_latency_ms <= b, 1), else_=0))
                   for b in CHECK_LATENCY_BUCKETS_MS]
        per_queue: dict[str, list[float]] = {}
        for queue_id, verdict, count, total, *counts in self.session.execute(
                select(Item.queue_id, Item.check_verdict, func.count(),
                       func.coalesce(func.sum(Item.check_latency_ms), 0.0), *buckets)
                .where(Item.checked_at.is_not(None), Item.checked_at > self.now - WINDOW)
                .group_by(Item.queue_id, Item.check_verdict)):
            slug = slugs.get(queue_id, str(queue_id))
            verdicts.add_metric([slug, verdict or "none"], count)
            acc = per_queue.setdefault(slug, [0.0] * (len(CHECK_LATENCY_BUCKETS_MS) + 2))
            for i, c in enumerate(counts):
                acc[i] += int(c or 0)
            acc[-2] += count
            acc[-1] += float(total)
        for slug, acc in per_queue.items():
            cumulative = [(str(float(b)), acc[i]) for i, b in enumerate(CHECK_LATENCY_BUCKETS_MS)]
            latency.add_metric([slug], cumulative + [("+Inf", acc[-2])], sum_value=acc[-1])
        yield from (verdicts, latency)

    def _webhooks(self) -> Iterator[Any]:
        attempts = GaugeMetricFamily("review_webhook_attempts_24h",
                                     "Webhook delivery attempts in the last 24 h, by result",
                                     labels=["result"])
        # A timeout or connection error has no status code: it failed too.
        failed = or_(WebhookAttempt.status_code.is_(None), WebhookAttempt.status_code < 200,
                     WebhookAttempt.status_code >= 300)
        ok_count, fail_count = self.session.execute(
            select(func.coalesce(func.sum(case((failed, 0), else_=1)), 0),
                   func.coalesce(func.sum(case((failed, 1), else_=0)), 0))
            .where(WebhookAttempt.at > self.now - WINDOW)).one()
        attempts.add_metric(["ok"], int(ok_count))
        attempts.add_metric(["failed"], int(fail_count))
        pending = GaugeMetricFamily("review_webhook_deliveries_pending",
                                    "Webhook deliveries waiting to be delivered")
        pending.add_metric([], self.session.scalar(
            select(func.count()).where(WebhookDelivery.status == "pending")) or 0)
        yield from (attempts, pending)

    def _alerts(self) -> Iterator[Any]:
        family = GaugeMetricFamily("review_open_alerts", "Open alert episodes by kind",
                                   labels=["kind"])
        for kind, count in self.session.execute(
                select(Alert.kind, func.count()).where(Alert.resolved_at.is_(None))
                .group_by(Alert.kind)):
            family.add_metric([kind], count)
        yield family

    def _adaptive(self) -> Iterator[Any]:
        """Adaptive queues: breaker, live share of the rollout stage, learned thresholds."""
        breaker = GaugeMetricFamily("review_breaker_open", "1 while the circuit breaker is open",
                                    labels=["queue"])
        share = GaugeMetricFamily("review_rollout_live_share",
                                  "Share of traffic routed live at the rollout stage",
                                  labels=["queue"])
        for queue in self.session.scalars(select(Queue).where(Queue.max_error_rate.is_not(None))):
            breaker.add_metric([queue.slug], 1 if queue.breaker_open else 0)
            share.add_metric([queue.slug], live_share(queue.rollout_stage))
        threshold = GaugeMetricFamily(
            "review_learned_threshold", "Learned auto-approve threshold (-1: none, all to humans)",
            labels=["queue", "model_version", "prompt_version"])
        for slug, row in self.session.execute(
                select(Queue.slug, LearnedThreshold)
                .join(LearnedThreshold, LearnedThreshold.queue_id == Queue.id)):
            value = row.threshold if row.threshold is not None else -1
            threshold.add_metric([slug, row.model_version, row.prompt_version], value)
        yield from (breaker, share, threshold)

    def _cost(self) -> Iterator[Any]:
        """Cost and tokens of the items created in the last 24 h (review/reports/cost.py)."""
        cost = GaugeMetricFamily("review_cost_24h", "Cost of items created in the last 24 h, "
                                 "by source: model (upstream usage), check, human (review time "
                                 "at the queue's hourly rate)", labels=["queue", "source"])
        tokens = GaugeMetricFamily("review_tokens_24h", "Tokens of items created in the last "
                                   "24 h, by source (model, check) and direction",
                                   labels=["queue", "source", "direction"])
        for slug, totals in cost_totals(self.session, self.now - WINDOW, self.now).items():
            for source in ("model", "check", "human"):
                cost.add_metric([slug, source], totals[f"cost_{source}"])
            for source in ("model", "check"):
                for direction in ("input", "output"):
                    tokens.add_metric([slug, source, direction],
                                      totals[f"tokens_{source}_{direction}"])
        yield from (cost, tokens)

    def _liveness(self) -> Iterator[Any]:
        alive = liveness(self.now.replace(tzinfo=UTC).timestamp())
        workers = GaugeMetricFamily("review_workers_alive", "RQ workers with a fresh heartbeat")
        workers.add_metric([], alive.workers_alive)
        age = GaugeMetricFamily("review_scheduler_heartbeat_age_seconds",
                                "Seconds since the periodic jobs last ran (-1: never)")
        age.add_metric([], alive.scheduler_age if alive.scheduler_age is not None else -1)
        redis_up = GaugeMetricFamily("review_redis_up", "1 when Redis answered the scrape")
        redis_up.add_metric([], 1 if alive.redis_ok else 0)
        yield from (workers, age, redis_up)


def render_metrics(session: Session, now: datetime | None = None) -> bytes:
    """The whole /metrics body: this process's (or all processes') counters, then the DB."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        process_registry = CollectorRegistry()
        MultiProcessCollector(process_registry)
    else:
        process_registry = REGISTRY
    db_registry = CollectorRegistry(auto_describe=False)
    db_registry.register(DatabaseCollector(session, now))
    return generate_latest(process_registry) + generate_latest(db_registry)
