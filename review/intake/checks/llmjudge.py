"""The built-in LLM judge: `type = "llm"`, any OpenAI-compatible chat completions API.

POSTs `{base_url}/chat/completions` (OpenAI, vLLM, Ollama's /v1, or an Azure OpenAI
deployment URL with `api_version`) with the prompt template filled from the item's
input, output and context, temperature 0 and a JSON response format, then validates the
model's message as the same strict verdict object the http checker takes
({"verdict": "pass"|"fail"|"unsure", "score"?: 0..1, "reason"?: str}). The API key comes
from the environment variable the policy names (`api_key_env`), never from the policy.
Token usage is recorded on the check. Every failure (garbage, truncated JSON, 4xx/5xx,
429 beyond its Retry-After budget, timeouts) is a verdict of "error", so the item goes to
a human or to the checker's fallback (review/intake/checks/fallback.py).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import requests

from review.intake.checks.base import CheckInput, CheckResult, clip
from review.intake.checks.httpcheck import parse_answer

DEFAULT_PROMPT = (
    "You check an AI assistant's answer against its sources. Reply with JSON only: "
    '{"verdict": "pass" | "fail" | "unsure", "score": <0..1>, "reason": "<short>"}. '
    '"fail" if the answer states anything the sources do not support.\n\n'
    "Question:\n{input}\n\nSources:\n{context}\n\nAnswer:\n{output}")
MAX_RETRY_AFTER = 5.0
MAX_TIMEOUT = 120.0


def _error(reason: str) -> CheckResult:
    return CheckResult("llm", "error", None, reason)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def render(template: str, item: CheckInput) -> str:
    """Fill {input}, {output}, {context} (plain replacement: braces in data stay data)."""
    context = "\n---\n".join(_text(c) for c in item.context) or "(none)"
    return (template.replace("{input}", _text(item.input) if item.input is not None else "")
            .replace("{context}", context).replace("{output}", _text(item.output)))


def _usage(body: dict[str, Any]) -> dict[str, Any] | None:
    usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
    out = {name: usage[key] for name, key in (("input_tokens", "prompt_tokens"),
                                              ("output_tokens", "completion_tokens"))
           if isinstance(usage.get(key), int) and not isinstance(usage.get(key), bool)
           and usage[key] >= 0}
    return out or None


def _retry_after(response: requests.Response) -> float | None:
    try:
        return float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None


def llm(item: CheckInput, *, base_url: str, model: str, api_key_env: str | None = None,
        prompt: str = DEFAULT_PROMPT, timeout: float = 20.0, max_tokens: int = 300,
        api_version: str | None = None, json_mode: bool = True) -> CheckResult:
    """Ask an OpenAI-compatible chat model for a verdict on `item`."""
    if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
        return _error("llm checker needs a base_url starting with http:// or https://")
    if not isinstance(timeout, int | float) or not 0 < timeout <= MAX_TIMEOUT:
        return _error(f"llm checker timeout must be within (0, {MAX_TIMEOUT:g}] seconds")
    headers = {"Content-Type": "application/json"}
    if api_key_env:
        key = os.environ.get(api_key_env)
        if not key:
            return _error(f"environment variable {api_key_env} is not set")
        # Azure OpenAI takes the key in `api-key`; everyone else a bearer token.
        headers["api-key" if api_version else "Authorization"] = (
            key if api_version else f"Bearer {key}")
    body: dict[str, Any] = {"model": model, "temperature": 0, "max_tokens": max_tokens,
                            "messages": [{"role": "user", "content": render(prompt, item)}]}
    if json_mode:
        body["response_format"] = {"type": "json_object"}
    url = base_url.rstrip("/") + "/chat/completions"
    params = {"api-version": api_version} if api_version else None
    for attempt in range(2):
        try:
            response = requests.post(url, json=body, headers=headers, params=params,
                                     timeout=timeout, allow_redirects=False)
        except requests.Timeout:
            return _error(f"judge timed out after {timeout:g}s")
        except requests.RequestException as exc:
            return _error(f"judge request failed: {clip(str(exc), 160)}")
        wait = _retry_after(response) if response.status_code == 429 else None
        if response.status_code == 429 and attempt == 0 and wait is not None \
                and wait <= MAX_RETRY_AFTER:
            time.sleep(wait)  # the server said when; within budget, once
            continue
        break
    if response.status_code == 429:
        return _error(f"judge rate-limited (HTTP 429, Retry-After "
                      f"{response.headers.get('Retry-After', 'none')})")
    if not 200 <= response.status_code < 300:
        return _error(f"HTTP {response.status_code} from judge")
    try:
        answer = response.json()
        content = answer["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        return _error(f"judge answer is not a chat completion: "
                      f"{clip(response.text, 60)!r}")
    if not isinstance(content, str):
        return _error("judge message has no text content")
    verdict = parse_answer(content.strip().encode())
    return CheckResult("llm", verdict.verdict, verdict.score, verdict.reason,
                       usage=_usage(answer))
