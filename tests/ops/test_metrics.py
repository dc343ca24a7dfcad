"""/metrics: Prometheus text that a Prometheus parser reads, with ingest counters from
real requests and gauges that match the database at scrape time."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import insert

from review.core.clock import utcnow
from review.core.models import Item, WebhookAttempt, WebhookDelivery
from review.core.settings import settings


def scrape(client, **headers) -> dict[tuple[str, tuple], float]:
    resp = client.get("/metrics", headers=headers)
    assert resp.status_code == 200
    assert resp.content_type.startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(resp.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_ingest_is_counted_and_timed_by_queue_and_route(app, client, auth, make_queue):
    make_queue("mq", audit_rate=0.0)
    before = scrape(client)
    for confidence in (0.95, 0.2, 0.1):
        resp = client.post("/api/v1/items", json={"queue": "mq", "output": "ok",
                                                  "confidence": confidence}, headers=auth)
        assert resp.status_code == 201
    batch = client.post("/api/v1/items/batch", headers=auth, json={"items": [
        {"queue": "mq", "output": "ok", "confidence": 0.3},
        {"queue": "nope", "output": "ok", "confidence": 0.3}]})
    assert batch.status_code == 200
    after = scrape(client)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("review_ingest_items_total", queue="mq", route="auto") == 1
    assert delta("review_ingest_items_total", queue="mq", route="human") == 3
    assert delta("review_ingest_requests_total", endpoint="item", outcome="created") == 3
    assert delta("review_ingest_requests_total", endpoint="batch", outcome="batch") == 1
    assert delta("review_ingest_seconds_count", endpoint="item", queue="mq", route="human") == 2
    assert delta("review_ingest_seconds_count", endpoint="batch", queue="*", route="*") == 1
    unknown = client.post("/api/v1/items", json={"queue": "nope", "output": "x",
                                                 "confidence": 0.5}, headers=auth)
    assert unknown.status_code >= 400
    assert value(scrape(client), "review_ingest_requests_total", endpoint="item",
                 outcome="error") - value(before, "review_ingest_requests_total",
                                          endpoint="item", outcome="error") == 1


def test_database_gauges_match_the_rows(app, client, db, make_queue):
    queue = make_queue("gq", sla_seconds=600)
    make_queue("empty")
    now = utcnow()
    base = dict(queue_id=queue.id, submitter="up", body_hash="0", route_reasons=[],
                confidence=0.5, output="x", context=[], meta={})
    rows = [
        dict(base, id="g1", status="pending", route_path="human", sla_state="ok",
             created_at=now - timedelta(minutes=3)),
        dict(base, id="g2", status="pending", route_path="human", sla_state="breached",
             created_at=now - timedelta(minutes=30)),
        dict(base, id="g3", status="in_review", route_path="human", sla_state="at_risk",
             created_at=now - timedelta(minutes=9)),
        dict(base, id="g4", status="checking", route_path="check", sla_state="ok",
             created_at=now - timedelta(minutes=1)),
        # Decided in the last day: one late, one on time; checked twice.
        dict(base, id="g5", status="approved", route_path="human", sla_state="breached",
             created_at=now - timedelta(hours=2), due_at=now - timedelta(hours=1),
             decided_at=now - timedelta(minutes=30), decided_by_kind="reviewer",
             check_verdict="fail", check_latency_ms=120.0, checked_at=now - timedelta(hours=2)),
        dict(base, id="g6", status="approved", route_path="check", sla_state="ok",
             created_at=now - timedelta(hours=2), due_at=now + timedelta(hours=1),
             decided_at=now - timedelta(minutes=30), decided_by_kind="reviewer",
             check_verdict="pass", check_latency_ms=3000.0, checked_at=now - timedelta(hours=2)),
    ]
    db.execute(insert(Item), rows)
    delivery = WebhookDelivery(event_id="evt_g", url="http://127.0.0.1/h", payload={},
                               status="pending")
    db.add(delivery)
    db.flush()
    db.add_all([WebhookAttempt(delivery_id=delivery.id, status_code=500, at=now),
                WebhookAttempt(delivery_id=delivery.id, status_code=None, error="timeout",
                               at=now),
                WebhookAttempt(delivery_id=delivery.id, status_code=204, at=now),
                WebhookAttempt(delivery_id=delivery.id, status_code=204,
                               at=now - timedelta(days=2))])
    db.commit()
    s = scrape(client)
    assert value(s, "review_backlog_items", queue="gq", status="pending") == 2
    assert value(s, "review_backlog_items", queue="gq", status="in_review") == 1
    assert value(s, "review_backlog_items", queue="gq", status="checking") == 1
    assert ("review_backlog_items", (("queue", "empty"), ("status", "pending"))) in s
    assert value(s, "review_open_sla_items", queue="gq", state="breached") == 1
    assert value(s, "review_open_sla_items", queue="gq", state="at_risk") == 1
    assert 1790 < value(s, "review_oldest_open_item_age_seconds", queue="gq") < 1900
    assert value(s, "review_sla_decided_24h", queue="gq") == 2
    assert value(s, "review_sla_breaches_24h", queue="gq") == 1
    assert value(s, "review_check_verdicts_24h", queue="gq", verdict="fail") == 1
    assert value(s, "review_check_latency_ms_24h_bucket", queue="gq", le="250.0") == 1
    assert value(s, "review_check_latency_ms_24h_bucket", queue="gq", le="+Inf") == 2
    assert value(s, "review_check_latency_ms_24h_sum", queue="gq") == 3120.0
    assert value(s, "review_webhook_attempts_24h", result="failed") == 2
    assert value(s, "review_webhook_attempts_24h", result="ok") == 1
    assert value(s, "review_webhook_deliveries_pending") == 1
    assert value(s, "review_redis_up") == 1


def test_metrics_token_when_configured(app, client, monkeypatch):
    monkeypatch.setattr(settings(app), "METRICS_TOKEN", "s3cret")
    resp = client.get("/metrics")
    assert resp.status_code == 401 and resp.get_json()["error"]["code"] == "unauthorized"
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert scrape(client, Authorization="Bearer s3cret")


def test_adaptive_gauges(client, db, make_queue):
    from review.core.models import LearnedThreshold, Queue

    queue = make_queue("learn", max_error_rate=0.02)
    make_queue("fixed")
    row = db.get(Queue, queue.id)
    row.breaker_open = True
    db.add_all([LearnedThreshold(queue_id=queue.id, model_version="v1", prompt_version="p1",
                                 threshold=0.93, evidence_count=400, errors=1, reason=""),
                LearnedThreshold(queue_id=queue.id, model_version="v2", prompt_version="",
                                 threshold=None, evidence_count=3, errors=0, reason="")])
    db.commit()
    s = scrape(client)
    assert value(s, "review_breaker_open", queue="learn") == 1
    assert value(s, "review_rollout_live_share", queue="learn") == 0.0  # starts in shadow
    assert ("review_breaker_open", (("queue", "fixed"),)) not in s
    assert value(s, "review_learned_threshold", queue="learn", model_version="v1",
                 prompt_version="p1") == 0.93
    assert value(s, "review_learned_threshold", queue="learn", model_version="v2",
                 prompt_version="") == -1
