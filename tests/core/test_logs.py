"""Structured logs and the request id: echoed, logged, carried into RQ jobs and webhooks."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from review.core.logs import (
    JsonFormatter,
    RequestIdFilter,
    bound_request_id,
    current_request_id,
)


def job_request_id() -> str | None:
    """An RQ job (run by a real worker below): which request id is bound inside in_app?"""
    from workers import in_app

    return in_app(current_request_id)


def test_request_id_is_echoed_or_generated(client):
    given = client.get("/api/v1/openapi.json", headers={"X-Request-Id": "upstream-42.a"})
    assert given.headers["X-Request-Id"] == "upstream-42.a"
    fresh = client.get("/api/v1/openapi.json")
    assert re.fullmatch(r"[0-9a-f]{32}", fresh.headers["X-Request-Id"])
    for hostile in ("two words", "x" * 200, "<script>"):
        resp = client.get("/api/v1/openapi.json", headers={"X-Request-Id": hostile})
        assert re.fullmatch(r"[0-9a-f]{32}", resp.headers["X-Request-Id"])
    # Errors carry it too.
    missing = client.get("/api/v1/items/nope", headers={"X-Request-Id": "err-1"})
    assert missing.status_code == 401 and missing.headers["X-Request-Id"] == "err-1"


def test_each_request_logs_one_line_with_its_fields(client, caplog):
    with caplog.at_level(logging.INFO, logger="review.request"):
        client.get("/api/v1/openapi.json", headers={"X-Request-Id": "req-fields"})
    lines = [r for r in caplog.records if getattr(r, "request_id", None) == "req-fields"]
    assert len(lines) == 1
    record = lines[0]
    assert (record.method, record.path, record.status) == ("GET", "/api/v1/openapi.json", 200)
    assert record.duration_ms >= 0
    entry = json.loads(JsonFormatter().format(record))
    assert entry["request_id"] == "req-fields" and entry["logger"] == "review.request"
    assert entry["status"] == 200 and entry["message"] == "GET /api/v1/openapi.json 200"
    assert entry["level"] == "INFO" and entry["time"].endswith("Z")


def test_json_formatter_writes_one_object_per_line():
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        record = logging.getLogger("review.x").makeRecord(
            "review.x", logging.ERROR, __file__, 1, "failed %s", ("twice",), sys.exc_info(),
            extra={"item_id": "abc"})
    with bound_request_id("rid-9"):
        RequestIdFilter().filter(record)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "failed twice" and entry["item_id"] == "abc"
    assert entry["request_id"] == "rid-9" and "ValueError: boom" in entry["exc"]


SCRIPT = """
import logging
from app import create_app
app = create_app()
app.test_client().get("/api/v1/openapi.json", headers={"X-Request-Id": "sub-1"})
logging.getLogger("review.demo").warning("done %s", 1)
"""


def _run_app(tmp_path, **env: str) -> list[str]:
    clean = {k: v for k, v in os.environ.items()
             if k not in ("PRODUCTION", "SECRET_KEY", "LOG_FORMAT", "DATABASE_URL")}
    clean.update(INSTANCE_DIR=str(tmp_path), **env)
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=clean, capture_output=True,
                          text=True, timeout=60, cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stderr
    return [line for line in proc.stderr.splitlines() if line.strip()]


def test_production_logs_json_lines(tmp_path):
    lines = _run_app(tmp_path, PRODUCTION="1", SECRET_KEY="s" * 40)
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    request = [e for e in entries if e["logger"] == "review.request"]
    assert len(request) == 1
    assert request[0]["request_id"] == "sub-1" and request[0]["path"] == "/api/v1/openapi.json"
    assert {"time", "level", "method", "status", "duration_ms"} <= set(request[0])
    assert any(e["message"] == "done 1" and e["level"] == "WARNING" for e in entries)


def test_text_logs_by_default_and_json_on_request(tmp_path):
    text = _run_app(tmp_path)
    assert any("[sub-1]" in line and "GET /api/v1/openapi.json 200" in line for line in text)
    assert not any(line.startswith("{") for line in text)
    forced = _run_app(tmp_path, LOG_FORMAT="json")
    assert all(json.loads(line) for line in forced)


def test_request_id_is_restored_inside_rq_jobs(app, rq_worker):
    from review.core.jobs import DEFAULT, enqueue, rq_queue

    with app.app_context():
        with bound_request_id("trace-job"):
            assert enqueue(DEFAULT, "tests.core.test_logs.job_request_id")
        assert enqueue(DEFAULT, "tests.core.test_logs.job_request_id")  # no request behind it
        jobs = rq_queue(DEFAULT).get_jobs()
        assert jobs[0].meta["request_id"] == "trace-job" and "request_id" not in jobs[1].meta
    rq_worker(with_scheduler=False)
    with app.app_context():
        from rq.job import Job

        from review.core.jobs import get_redis

        results = [Job.fetch(j.id, connection=get_redis()).return_value() for j in jobs]
    assert results == ["trace-job", f"job-{jobs[1].id}"]


@pytest.fixture
def hooks_queue(make_queue, http_receiver):
    receiver = http_receiver()
    make_queue("hooks", audit_rate=0.0, webhook_url=receiver.url)
    return receiver


def test_request_id_reaches_the_webhook_headers(client, auth, hooks_queue, rq_worker):
    resp = client.post("/api/v1/items", headers={**auth, "X-Request-Id": "ingest-77"}, json={
        "queue": "hooks", "output": "Fine.", "confidence": 0.99})
    assert resp.status_code == 201 and resp.get_json()["status"] == "approved"
    rq_worker()
    delivered = hooks_queue.wait_for(1)
    assert len(delivered) == 1
    headers = {k.lower(): v for k, v in delivered[0].headers.items()}
    assert headers["x-request-id"] == "ingest-77"
    assert json.loads(delivered[0].body)["item"]["id"] == resp.get_json()["id"]


def test_structlog_loggers_and_bound_keys_write_the_same_json_lines(capsys):
    import structlog

    from review.core.logs import install_handler

    root = logging.getLogger()
    before = list(root.handlers)
    handler = install_handler("json")
    try:
        with bound_request_id("rid-s"), structlog.contextvars.bound_contextvars(item_id="i-1"):
            structlog.get_logger("review.demo").warning("claimed %s", "twice", queue="q")
            logging.getLogger("review.demo").info("plain", extra={"n": 3})
    finally:
        root.removeHandler(handler)
        for old in before:
            if old not in root.handlers:
                root.addHandler(old)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()
             if line.startswith("{")]
    native, plain = [e for e in lines if e["logger"] == "review.demo"]
    assert list(native)[:5] == ["time", "level", "logger", "message", "request_id"]
    assert native["message"] == "claimed twice" and native["level"] == "WARNING"
    assert native["request_id"] == "rid-s" and native["queue"] == "q"
    assert native["item_id"] == "i-1" and plain["item_id"] == "i-1"
    assert plain["message"] == "plain" and plain["n"] == 3 and plain["request_id"] == "rid-s"


def test_text_format_shows_the_request_id():
    from review.core.logs import TextFormatter

    record = logging.getLogger("review.x").makeRecord(
        "review.x", logging.INFO, __file__, 1, "hello %s", ("you",), None)
    with bound_request_id("rid-t"):
        line = TextFormatter().format(record)
    assert line.endswith(" INFO review.x [rid-t] hello you"), line
