"""The http checker against a real HTTP server on 127.0.0.1 (see conftest.py)."""

from __future__ import annotations

import json
import socket
import time

import pytest

from review.intake.checks import SECRET_HEADER, CheckInput, run_checker
from tests.intake.checks.conftest import HANG

ITEM = CheckInput(
    item_id="itm_1",
    input={"question": "Can I return shoes?"},
    output="Yes, within 30 days.",
    context=[{"id": "kb-1", "text": "Returns are accepted within 30 days."}],
    confidence=0.72,
    model={"name": "m-1", "version": "2024-06"},
    metadata={"ticket": 99},
    blocked_phrases=["secret rule"],
    max_output_chars=500,
)


def run(url: str, **config):
    return run_checker({"type": "http", "url": url, "backoff": 0.01, **config}, ITEM)


@pytest.mark.parametrize("verdict", ["pass", "fail", "unsure"])
def test_verdicts_come_back_as_sent(judge, verdict):
    url = judge.respond("/judge", {"verdict": verdict, "score": 0.25, "reason": f"said {verdict}"})
    result = run(url)
    assert (result.checker, result.verdict, result.score, result.reason) == \
        ("http", verdict, 0.25, f"said {verdict}")
    assert result.latency_ms > 0
    assert judge.hits("/judge") == 1


def test_score_and_reason_are_optional(judge):
    result = run(judge.respond("/min", {"verdict": "pass"}))
    assert (result.verdict, result.score, result.reason) == ("pass", None, "")
    result = run(judge.respond("/nulls", {"verdict": "fail", "score": None, "reason": None}))
    assert (result.verdict, result.score, result.reason) == ("fail", None, "")
    result = run(judge.respond("/int", {"verdict": "pass", "score": 1, "extra": [1, 2]}))
    assert (result.verdict, result.score) == ("pass", 1.0)


def test_item_is_posted_as_json_without_queue_rules(judge):
    run(judge.respond("/judge", {"verdict": "pass"}))
    [request] = judge.received
    assert request.headers["Content-Type"] == "application/json"
    assert request.json() == {
        "item_id": "itm_1",
        "input": {"question": "Can I return shoes?"},
        "output": "Yes, within 30 days.",
        "context": [{"id": "kb-1", "text": "Returns are accepted within 30 days."}],
        "confidence": 0.72,
        "model": {"name": "m-1", "version": "2024-06"},
        "metadata": {"ticket": 99},
    }
    assert b"secret rule" not in request.body


def test_secret_header_arrives_only_when_configured(judge):
    url = judge.respond("/judge", {"verdict": "pass"})
    run(url, secret="s3cr3t-value")
    run(url)
    with_secret, without = judge.received
    assert with_secret.headers[SECRET_HEADER] == "s3cr3t-value"
    assert SECRET_HEADER not in without.headers


@pytest.mark.parametrize("body, expected", [
    (b"not json at all", "not JSON"),
    (b'{"verdict": "pass"', "not JSON"),
    (b"", "not JSON"),
    (b'{"verdict": "pass", "score": NaN}', "not JSON"),
    (b"\xff\xfe", "not JSON"),
])
def test_malformed_answers_are_errors(judge, body, expected):
    result = run(judge.respond("/bad", body))
    assert result.verdict == "error"
    assert expected in result.reason
    assert result.score is None
    assert judge.hits("/bad") == 1  # a bad answer is not retried


@pytest.mark.parametrize("answer, expected", [
    ([{"verdict": "pass"}], "must be a JSON object"),
    ("pass", "must be a JSON object"),
    ({}, "verdict must be"),
    ({"verdict": "maybe"}, "verdict must be"),
    ({"verdict": "error"}, "verdict must be"),
    ({"verdict": "PASS"}, "verdict must be"),
    ({"verdict": 1}, "verdict must be"),
    ({"verdict": ["pass"]}, "verdict must be"),
    ({"verdict": "pass", "score": "0.9"}, "score must be a number"),
    ({"verdict": "pass", "score": True}, "score must be a number"),
    ({"verdict": "pass", "score": 1.5}, "score must be within 0..1"),
    ({"verdict": "pass", "score": -0.1}, "score must be within 0..1"),
    (b'{"verdict": "pass", "score": 1e999}', "score must be within 0..1"),
    ({"verdict": "pass", "reason": 5}, "reason must be a string"),
    ({"verdict": "pass", "reason": ["x"]}, "reason must be a string"),
])
def test_wrong_types_are_errors(judge, answer, expected):
    body = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
    result = run(judge.respond("/typed", body))
    assert result.verdict == "error"
    assert expected in result.reason


def test_500_then_200_is_retried(judge):
    url = judge.respond("/flaky", (500, b"oops"), {"verdict": "pass", "score": 0.9})
    result = run(url, retries=2)
    assert (result.verdict, result.score) == ("pass", 0.9)
    assert judge.hits("/flaky") == 2


def test_persistent_5xx_gives_up_after_bounded_retries(judge):
    result = run(judge.respond("/down", (503, b"busy")), retries=2)
    assert result.verdict == "error"
    assert result.reason == "HTTP 503 from checker (3 attempts)"
    assert judge.hits("/down") == 3


def test_no_retries_means_one_attempt(judge):
    result = run(judge.respond("/down", (502, b"")), retries=0)
    assert result.reason == "HTTP 502 from checker (1 attempt)"
    assert judge.hits("/down") == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_4xx_is_an_error_without_retry(judge, status):
    result = run(judge.respond("/client", (status, b'{"verdict": "pass"}')), retries=2)
    assert result.verdict == "error"
    assert result.reason == f"HTTP {status} from checker"
    assert judge.hits("/client") == 1


def test_redirects_are_not_followed(judge):
    judge.respond("/elsewhere", {"verdict": "pass"})
    url = judge.respond("/moved", (307, b"", {"Location": judge.url("/elsewhere")}))
    result = run(url, secret="s3cr3t")
    assert result.verdict == "error" and result.reason == "HTTP 307 from checker"
    assert judge.hits("/elsewhere") == 0


def test_hang_longer_than_timeout_is_an_error(judge):
    url = judge.respond("/slow", HANG)
    started = time.monotonic()
    result = run(url, timeout=0.3, retries=0)
    elapsed = time.monotonic() - started
    assert result.verdict == "error"
    assert result.reason == "timed out after 0.3s (1 attempt)"
    assert elapsed < 2
    assert judge.hits("/slow") == 1


def test_timeouts_are_retried(judge):
    url = judge.respond("/slow-then-fast", HANG, {"verdict": "unsure", "reason": "second try"})
    result = run(url, timeout=0.3, retries=1)
    assert (result.verdict, result.reason) == ("unsure", "second try")
    assert judge.hits("/slow-then-fast") == 2


def test_connection_refused_is_an_error_after_retries():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run(f"http://127.0.0.1:{port}/judge", retries=1, timeout=1)
    assert result.verdict == "error"
    assert result.reason.startswith(f"cannot connect to 127.0.0.1:{port}")
    assert result.reason.endswith("(2 attempts)")


def test_oversized_answer_is_an_error(judge):
    body = b'{"verdict": "pass", "reason": "' + b"x" * 1_200_000 + b'"}'
    result = run(judge.respond("/huge", body))
    assert result.verdict == "error"
    assert "larger than" in result.reason


def test_unsendable_item_is_an_error_without_a_request(judge):
    url = judge.respond("/judge", {"verdict": "pass"})
    item = CheckInput(item_id="x", output=float("nan"))
    result = run_checker({"type": "http", "url": url}, item)
    assert result.verdict == "error" and "cannot send item" in result.reason
    assert judge.received == []


@pytest.mark.parametrize("config, expected", [
    ({}, "needs url"),
    ({"url": "ftp://127.0.0.1/x"}, "http:// or https://"),
    ({"url": "http://127.0.0.1/x", "timeout": 0}, "timeout"),
    ({"url": "http://127.0.0.1/x", "timeout": 600}, "timeout"),
    ({"url": "http://127.0.0.1/x", "retries": 50}, "retries"),
    ({"url": "http://127.0.0.1/x", "retries": 1.5}, "retries"),
    ({"url": "http://127.0.0.1/x", "secret": 123}, "secret"),
    ({"url": "http://127.0.0.1/x", "headers": {}}, "unknown option"),
])
def test_bad_config_is_an_error(config, expected):
    result = run_checker({"type": "http", **config}, ITEM)
    assert result.verdict == "error"
    assert expected in result.reason


def test_http_inside_a_composite(judge):
    url = judge.respond("/judge", {"verdict": "pass", "score": 0.95})
    config = {"type": "all", "checks": [{"type": "http", "url": url},
                                        {"type": "grounding", "threshold": 0.5}]}
    result = run_checker(config, ITEM)
    assert result.verdict == "pass", result.reason
    assert "http: pass" in result.reason and "grounding: pass" in result.reason
    judge.respond("/judge", {"verdict": "fail", "reason": "wrong"})
    result = run_checker(config, ITEM)
    assert result.verdict == "fail" and "http: fail (wrong)" in result.reason
