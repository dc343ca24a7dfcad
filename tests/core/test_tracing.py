"""OpenTelemetry tracing (review.core.tracing): an item's path from ingest to its webhook,
recorded with the SDK's in-memory exporter, and nothing at all when tracing is off.

The path test runs a real app (its own, built after an in-memory tracer provider is
enabled), real HTTP receivers on 127.0.0.1 (the judge and the webhook target) and a
real RQ worker. The worker runs in this process (SimpleWorker, burst): the in-memory
exporter sees only this process's spans. The export over OTLP is tested in a child
process against a real HTTP receiver standing in for the collector.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest
from flask import Flask
from opentelemetry import trace as otel_trace
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from rq import SimpleWorker
from sqlalchemy import select

from review.core import tracing
from review.core.jobs import ALL_QUEUES, WEBHOOKS, get_redis, rq_queue
from review.core.models import ItemEvent
from review.factory import create_app
from tests.conftest import make_config, worker_env
from workers import set_app

OTEL_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                  "OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER")


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on in this process, every finished span kept in memory; off afterwards."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.enable(provider)
    yield exporter
    tracing.disable()


@pytest.fixture
def traced_app(app: Flask, database_url, redis_url, instance_dir, spans) -> Iterator[Flask]:
    """An app built while tracing is on (so instrumented), on the test database; the
    session's `app` stays untraced and cleans the tables afterwards."""
    traced = create_app(make_config(database_url, redis_url, instance_dir))
    with traced.app_context():
        for name in ALL_QUEUES:
            rq_queue(name).empty()
    yield traced
    set_app(app)
    traced.extensions["review.engine"].dispose()


def run_worker(app: Flask) -> None:
    """A real RQ worker in this process, until the app's queues are empty."""
    set_app(app)
    with app.app_context():
        queues = [rq_queue(name) for name in ALL_QUEUES]
        SimpleWorker(queues, connection=get_redis()).work(
            burst=True, with_scheduler=False, logging_level="WARNING")


def named(finished: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in finished if s.name == name]


def one(finished: list[ReadableSpan], name: str, item_id: str) -> ReadableSpan:
    [found] = [s for s in named(finished, name) if s.attributes.get("review.item_id") == item_id]
    return found


def linked_to(span: ReadableSpan, trace_id: int) -> bool:
    return any(link.context.trace_id == trace_id for link in span.links)


def test_one_trace_links_ingest_to_the_webhook_delivery(
        traced_app, spans, db, make_queue, make_user, make_key, http_receiver):
    judge = http_receiver(lambda _r: (200, {"verdict": "fail", "score": 0.1, "reason": "no"}))
    hook = http_receiver()
    make_queue("traced", audit_rate=0.0,
               checker={"type": "http", "url": judge.url, "timeout": 2, "retries": 0})
    rita = make_user("rita", queues=("traced",))
    reviewer = {"Authorization": f"Bearer {make_key('rita-key', 'review', rita)}"}
    upstream = {"Authorization": f"Bearer {make_key('upstream', 'submit')}"}
    client = traced_app.test_client()

    submitted = client.post("/api/v1/items", headers=upstream, json={
        "queue": "traced", "output": "Refund sent.", "confidence": 0.75,
        "callback_url": hook.url})
    assert submitted.status_code == 201, submitted.get_json()
    item_id = submitted.get_json()["id"]
    assert submitted.get_json()["status"] == "checking"
    run_worker(traced_app)  # the check: the judge says fail, so a human decides
    claimed = client.post("/api/v1/queues/traced/claim", headers=reviewer)
    assert claimed.status_code == 200 and claimed.get_json()["item"]["id"] == item_id
    decided = client.post(f"/api/v1/items/{item_id}/decision", headers=reviewer, json={
        "outcome": "approve", "lease_token": claimed.get_json()["lease"]["token"]})
    assert decided.status_code == 200, decided.get_json()
    run_worker(traced_app)  # the webhook delivery
    [delivered] = hook.wait_for(1)
    assert delivered.json()["item"]["id"] == item_id

    finished = list(spans.get_finished_spans())
    ingest = one(finished, "review.ingest", item_id)
    route = one(finished, "review.route", item_id)
    check = one(finished, "review.check", item_id)
    claim = one(finished, "review.claim", item_id)
    decide = one(finished, "review.decide", item_id)
    deliver = one(finished, "review.webhook.deliver", item_id)
    ingest_trace = ingest.context.trace_id

    # Attributes: the item and its queue.
    assert ingest.attributes["review.queue"] == "traced"
    assert claim.attributes["review.queue"] == "traced"
    assert decide.attributes["review.status"] == "approved"
    assert route.attributes["review.route"] == "check"
    assert check.attributes["review.outcome"] == "pending"  # to a human
    assert deliver.attributes["review.outcome"] == "delivered"
    # Ingest, route and the check (in the worker, through the job's meta) share a trace.
    assert route.context.trace_id == check.context.trace_id == ingest_trace
    assert route.parent.span_id == ingest.context.span_id
    check_job = next(s for s in finished if s.context.span_id == check.parent.span_id)
    assert check_job.kind == SpanKind.CONSUMER and check_job.name == "job workers.checks.run_check"
    # The checker's HTTP call carried the trace to the judge (requests instrumentation).
    assert judge.requests[0].headers["traceparent"].split("-")[1] == f"{ingest_trace:032x}"
    # Later work has its own traces, linked to the ingest span.
    for later in (claim, decide, deliver):
        assert later.context.trace_id != ingest_trace
        assert linked_to(later, ingest_trace), later.name
        assert any(link.context.span_id == ingest.context.span_id for link in later.links)
    # The delivery job continues the decision's trace (the job carried it).
    assert deliver.context.trace_id == decide.context.trace_id
    # Flask, SQLAlchemy, requests and redis spans around them.
    assert any(s.kind == SpanKind.SERVER and s.context.trace_id == ingest_trace
               for s in finished)
    assert any(s.attributes.get("db.system") in ("sqlite", "postgresql")
               or s.attributes.get("db.system.name") in ("sqlite", "postgresql")
               for s in finished if s.context.trace_id == ingest_trace)
    assert any(s.attributes.get("db.system") == "redis"
               or s.attributes.get("db.system.name") == "redis" for s in finished)
    assert any(s.kind == SpanKind.CLIENT and s.context.trace_id == deliver.context.trace_id
               and s.name.startswith("POST") for s in finished)


def test_a_scheduled_webhook_retry_continues_the_trace(
        traced_app, spans, make_queue, make_key, http_receiver):
    """A failed attempt schedules the next through RQ's scheduler (enqueue_at): that job
    carries the trace too, and its attempt links to the ingest like the first."""
    hook = http_receiver(lambda _r: (500, {}))
    make_queue("traced", audit_rate=0.0)
    upstream = {"Authorization": f"Bearer {make_key('upstream', 'submit')}"}
    submitted = traced_app.test_client().post("/api/v1/items", headers=upstream, json={
        "queue": "traced", "output": "Fine.", "confidence": 0.99, "callback_url": hook.url})
    assert submitted.get_json()["status"] == "approved"  # decided at ingest: webhook queued
    run_worker(traced_app)
    hook.wait_for(1)
    deliver = one(list(spans.get_finished_spans()), "review.webhook.deliver",
                  submitted.get_json()["id"])
    assert deliver.attributes["review.outcome"] == "retrying"
    with traced_app.app_context():
        queue = rq_queue(WEBHOOKS)
        [job_id] = queue.scheduled_job_registry.get_job_ids()
        meta = queue.fetch_job(job_id).meta
    traceparent = meta[tracing.JOB_META_KEY]["traceparent"]
    assert traceparent.split("-")[1:3] == [f"{deliver.context.trace_id:032x}",
                                           f"{deliver.context.span_id:016x}"]


def exported_spans(collector) -> list:
    """Every span the collector (an HTTP receiver standing in for it) was sent."""
    found = []
    for export in collector.requests:
        request = ExportTraceServiceRequest.FromString(export.body)
        for resource_spans in request.resource_spans:
            for scope in resource_spans.scope_spans:
                found.extend(scope.spans)
    return found


@pytest.mark.parametrize("fork", [False, True], ids=["simple", "forked work horse"])
def test_a_worker_process_continues_the_ingest_trace_and_exports_it(
        fork, traced_app, spans, make_queue, make_key, http_receiver, worker_process):
    """`review worker` in its own process: the check job's spans join the ingest's trace
    (read from the job's meta) and reach the collector over OTLP, also from a forked
    work horse, which ends without running exit hooks."""
    judge = http_receiver(lambda _r: (200, {"verdict": "fail", "score": 0.1}))
    collector = http_receiver(lambda _r: (200, ""))
    make_queue("traced", audit_rate=0.0,
               checker={"type": "http", "url": judge.url, "timeout": 2, "retries": 0})
    upstream = {"Authorization": f"Bearer {make_key('upstream', 'submit')}"}
    submitted = traced_app.test_client().post("/api/v1/items", headers=upstream, json={
        "queue": "traced", "output": "Refund sent.", "confidence": 0.75})
    assert submitted.status_code == 201, submitted.get_json()
    item_id = submitted.get_json()["id"]
    ingest = one(list(spans.get_finished_spans()), "review.ingest", item_id)

    worker = worker_process("--burst", *(["--fork"] if fork else []),
                            REDIS_PREFIX=traced_app.config["REDIS_PREFIX"],
                            OTEL_EXPORTER_OTLP_ENDPOINT=collector.url.removesuffix("/hook"),
                            OTEL_BSP_SCHEDULE_DELAY="100")
    output, _ = worker.communicate(timeout=120)
    assert worker.returncode == 0, output
    collector.wait_for(1)
    exported = exported_spans(collector)
    by_name = {span.name: span for span in exported}
    check, job = by_name["review.check"], by_name["job workers.checks.run_check"]
    assert int.from_bytes(check.trace_id, "big") == ingest.context.trace_id
    assert int.from_bytes(job.parent_span_id, "big") == ingest.context.span_id
    assert check.parent_span_id == job.span_id
    assert {a.key: a.value.string_value for a in check.attributes}["review.item_id"] == item_id
    assert judge.requests[0].headers["traceparent"].split("-")[1] == \
        f"{ingest.context.trace_id:032x}"


def test_with_otel_unset_nothing_is_installed(app_config, monkeypatch):
    for name in OTEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    tracing.disable()
    app = create_app(app_config)
    assert not tracing.enabled() and tracing.tracer_provider() is None
    assert "review.tracing" not in app.extensions
    assert not getattr(app, "_is_instrumented_by_opentelemetry", False)
    assert not RequestsInstrumentor().is_instrumented_by_opentelemetry
    assert not RedisInstrumentor().is_instrumented_by_opentelemetry
    assert not isinstance(otel_trace.get_tracer_provider(), TracerProvider)
    assert tracing.inject_job_meta({"request_id": "r"}) == {"request_id": "r"}
    assert tracing.ingest_trace() == {}


def test_an_item_ingested_untraced_keeps_no_trace_context(client, auth, db, make_queue):
    make_queue("plain")
    response = client.post("/api/v1/items", headers=auth, json={
        "queue": "plain", "output": "x", "confidence": 0.1})
    assert response.status_code == 201
    event = db.scalars(select(ItemEvent).where(ItemEvent.kind == "ingested")).one()
    assert event.data == {"confidence": 0.1}


def run_child(app: Flask, script: str, **env: str) -> subprocess.CompletedProcess:
    environ = worker_env(app, **env)
    for name in OTEL_VARIABLES:
        environ.pop(name, None)
    environ.update(env)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], env=environ,
                          capture_output=True, text=True, timeout=120,
                          cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))


def test_otlp_endpoint_set_exports_spans_over_http(app, http_receiver):
    collector = http_receiver(lambda _r: (200, ""))
    child = run_child(app, """
        from review.core import tracing
        from review.factory import create_app
        app = create_app()
        assert tracing.enabled()
        assert app.test_client().get("/api/v1/openapi.json").status_code == 200
        tracing.tracer_provider().force_flush()
    """, OTEL_EXPORTER_OTLP_ENDPOINT=collector.url.removesuffix("/hook"),
        OTEL_SERVICE_NAME="review-test")
    assert child.returncode == 0, child.stderr
    [export] = collector.wait_for(1)
    assert export.path == "/v1/traces"
    headers = {name.lower(): value for name, value in export.headers.items()}
    assert headers["content-type"] == "application/x-protobuf"
    request = ExportTraceServiceRequest.FromString(export.body)
    [resource_spans] = request.resource_spans
    resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    assert resource["service.name"] == "review-test"
    names = [s.name for scope in resource_spans.scope_spans for s in scope.spans]
    assert any(name.startswith("GET /api/v1/openapi") for name in names), names


def test_without_the_tracing_extra_everything_runs_untraced(app):
    child = run_child(app, """
        import sys

        class NoOpenTelemetry:
            def find_spec(self, name, path=None, target=None):
                if name == "opentelemetry" or name.startswith("opentelemetry."):
                    raise ImportError(name)

        sys.meta_path.insert(0, NoOpenTelemetry())
        from review.core import tracing
        from review.factory import create_app
        app = create_app()
        assert not tracing.enabled()

        @tracing.span("x")
        def answer(item_id):
            with tracing.span("inner"):
                return 42

        assert answer("i") == 42
        assert tracing.inject_job_meta({}) == {}
        print("untraced")
    """, OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9")
    assert child.returncode == 0, child.stderr
    assert "untraced" in child.stdout
    assert "tracing extra is not installed" in child.stderr
