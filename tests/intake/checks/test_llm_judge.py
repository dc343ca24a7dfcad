"""Issue 15 item 7: the built-in LLM judge against a fake OpenAI-compatible server on
127.0.0.1 (tests/intake/checks/conftest.py): verdicts, garbage, truncated JSON, 429 with
Retry-After, timeouts, token usage, the API key from the environment."""

from __future__ import annotations

import json

from review.intake.checks import CheckInput, run_checker
from tests.intake.checks.conftest import HANG

ITEM = CheckInput(item_id="l1", input="Where is my refund?",
                  output="You get a $500 credit.", context=["Refunds take 5 days."])


def completion(content: str, usage: dict | None = None) -> dict:
    return {"id": "c1", "object": "chat.completion", "choices": [
        {"index": 0, "message": {"role": "assistant", "content": content},
         "finish_reason": "stop"}], "usage": usage or {"prompt_tokens": 50,
                                                        "completion_tokens": 9}}


def config(judge, **extra) -> dict:
    return {"type": "llm", "base_url": judge.url("/v1"), "model": "judge-1", "timeout": 2,
            **extra}


def test_a_fail_verdict_with_usage_and_the_request_it_sent(judge, monkeypatch):
    monkeypatch.setenv("JUDGE_KEY", "sk-test")
    judge.respond("/v1/chat/completions", completion(
        '{"verdict": "fail", "score": 0.1, "reason": "the credit is not in the sources"}'))
    result = run_checker(config(judge, api_key_env="JUDGE_KEY"), ITEM)
    assert (result.checker, result.verdict, result.score) == ("llm", "fail", 0.1)
    assert result.usage == {"input_tokens": 50, "output_tokens": 9}
    sent = judge.received[-1]
    body = sent.json()
    assert body["temperature"] == 0 and body["model"] == "judge-1"
    assert "Refunds take 5 days." in body["messages"][0]["content"]
    assert "$500 credit" in body["messages"][0]["content"]
    assert sent.headers.get("Authorization") == "Bearer sk-test"


def test_garbage_and_truncated_json_are_errors(judge):
    judge.respond("/v1/chat/completions", b"<html>oops</html>")
    assert run_checker(config(judge), ITEM).verdict == "error"
    judge.respond("/v1/chat/completions", completion('{"verdict": "pa'))
    result = run_checker(config(judge), ITEM)
    assert result.verdict == "error" and "not JSON" in result.reason
    judge.respond("/v1/chat/completions", completion('{"verdict": "maybe"}'))
    assert run_checker(config(judge), ITEM).verdict == "error"


def test_429_with_retry_after_is_retried_once(judge):
    judge.respond("/v1/chat/completions", (429, b"slow down", {"Retry-After": "0.2"}),
                  completion('{"verdict": "pass"}'))
    result = run_checker(config(judge), ITEM)
    assert result.verdict == "pass" and judge.hits("/v1/chat/completions") == 2


def test_429_beyond_the_budget_is_an_error(judge):
    judge.respond("/v1/chat/completions", (429, b"later", {"Retry-After": "600"}))
    result = run_checker(config(judge), ITEM)
    assert result.verdict == "error" and "429" in result.reason
    assert judge.hits("/v1/chat/completions") == 1


def test_a_judge_that_hangs_times_out(judge):
    judge.respond("/v1/chat/completions", HANG)
    result = run_checker(config(judge, timeout=0.5), ITEM)
    assert result.verdict == "error" and "timed out" in result.reason


def test_a_missing_key_and_azure_style_auth(judge, monkeypatch):
    assert "not set" in run_checker(config(judge, api_key_env="NO_SUCH_KEY_X"), ITEM).reason
    monkeypatch.setenv("AZ_KEY", "az")
    # Azure puts the API version in the query string.
    judge.respond("/v1/chat/completions?api-version=2024-06-01",
                  completion(json.dumps({"verdict": "unsure"})))
    result = run_checker(config(judge, api_key_env="AZ_KEY", api_version="2024-06-01"), ITEM)
    assert result.verdict == "unsure" and judge.received[-1].headers.get("api-key") == "az"
