"""The HTTP checker: ask an external service (typically an LLM judge) for a verdict.

The service is someone else's code, so everything about its answer is
validated and every failure becomes a verdict of "error" with a reason a
reviewer can act on; nothing here raises. Only failures that may be transient
(connection errors, timeouts, 5xx) are retried, a bounded number of times.
"""

from __future__ import annotations

import json
import math
import re
import time
from typing import Any
from urllib.parse import urlsplit

import requests

from review.intake.checks.base import CheckInput, CheckResult, clean_usage, clip

SECRET_HEADER = "X-Review-Check-Secret"
ANSWER_VERDICTS = ("pass", "fail", "unsure")
MAX_TIMEOUT = 60.0
MAX_RETRIES = 5
MAX_BACKOFF = 2.0
MAX_ANSWER_BYTES = 1_000_000


class _Retryable(Exception):
    """A failure worth another attempt."""


def _error(reason: str) -> CheckResult:
    return CheckResult("http", "error", None, reason)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_config(url: Any, secret: Any, timeout: Any, retries: Any, backoff: Any) -> None:
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ValueError("http checker needs a url starting with http:// or https://")
    if secret is not None and not isinstance(secret, str):
        raise ValueError("http checker secret must be a string")
    if not _number(timeout) or not 0 < timeout <= MAX_TIMEOUT:
        raise ValueError(f"http checker timeout must be within (0, {MAX_TIMEOUT:g}] seconds")
    if isinstance(retries, bool) or not isinstance(retries, int) \
            or not 0 <= retries <= MAX_RETRIES:
        raise ValueError(f"http checker retries must be an integer within 0..{MAX_RETRIES}")
    if not _number(backoff) or not 0 <= backoff <= MAX_BACKOFF:
        raise ValueError(f"http checker backoff must be within 0..{MAX_BACKOFF:g} seconds")


def _cause(exc: Exception) -> str:
    """The useful part of a requests/urllib3 error chain, e.g. "[Errno 111] Connection refused"."""
    text = str(exc)
    found = re.search(r"\[Errno -?\d+\][^'\")]*", text)
    return found.group(0).strip() if found else clip(text, 120)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_answer(raw: bytes) -> CheckResult:
    """Validate a checker's answer strictly: a JSON object with verdict, score?, reason?."""
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return _error(f"answer is not JSON: {clip(raw.decode('utf-8', 'replace'), 60)!r}")
    if not isinstance(data, dict):
        return _error(f"answer must be a JSON object, not {type(data).__name__}")
    verdict = data.get("verdict")
    if verdict not in ANSWER_VERDICTS or not isinstance(verdict, str):
        return _error(f'answer verdict must be "pass", "fail" or "unsure", not '
                      f"{clip(json.dumps(verdict), 40)}")
    score = data.get("score")
    if score is not None:
        if not _number(score):
            return _error(f"answer score must be a number, not {clip(json.dumps(score), 40)}")
        if not math.isfinite(score) or not 0 <= score <= 1:
            return _error(f"answer score must be within 0..1, not {score!r}")
    reason = data.get("reason")
    if reason is not None and not isinstance(reason, str):
        return _error(f"answer reason must be a string, not {type(reason).__name__}")
    return CheckResult("http", verdict, score, reason or "", usage=clean_usage(data.get("usage")))


def _read_capped(response: requests.Response, deadline: float) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(chunk_size=65536):
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise ValueError(f"answer is larger than {MAX_ANSWER_BYTES} bytes")
        chunks.append(chunk)
        if time.monotonic() > deadline:
            raise _Retryable("answer took longer than the timeout")
    return b"".join(chunks)


def _attempt(session: requests.Session, url: str, body: bytes, headers: dict[str, str],
             timeout: float) -> CheckResult:
    """One POST; raises _Retryable for transient failures, returns a result otherwise."""
    deadline = time.monotonic() + timeout
    try:
        response = session.post(url, data=body, headers=headers, timeout=timeout,
                                allow_redirects=False, stream=True)
    except requests.Timeout as exc:
        raise _Retryable(f"timed out after {timeout:g}s") from exc
    except requests.ConnectionError as exc:
        where = urlsplit(url).netloc
        raise _Retryable(f"cannot connect to {where}: {_cause(exc)}") from exc
    with response:
        status = response.status_code
        if status >= 500:
            raise _Retryable(f"HTTP {status} from checker")
        if not 200 <= status < 300:
            # 3xx is not followed: the secret header must not travel to another host.
            return _error(f"HTTP {status} from checker")
        try:
            raw = _read_capped(response, deadline)
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise _Retryable(f"reading the answer failed: {_cause(exc)}") from exc
        except ValueError as exc:
            return _error(str(exc))
    return parse_answer(raw)


def http(
    item: CheckInput,
    *,
    url: str,
    secret: str | None = None,
    timeout: float = 10.0,
    retries: int = 2,
    backoff: float = 0.2,
) -> CheckResult:
    """POST the item as JSON to `url` and return the service's validated verdict.

    Sends `X-Review-Check-Secret` when a secret is set. Up to `retries` more
    attempts follow connection errors, timeouts and 5xx answers, waiting
    `backoff` seconds, doubling, between them.
    """
    try:
        _check_config(url, secret, timeout, retries, backoff)
        body = json.dumps(item.payload(), allow_nan=False, ensure_ascii=False).encode()
    except (TypeError, ValueError) as exc:
        return _error(f"cannot send item: {exc}")
    headers = {"Content-Type": "application/json", "Accept": "application/json",
               "User-Agent": "review-checker/1"}
    if secret:
        headers[SECRET_HEADER] = secret
    attempts = retries + 1
    last = ""
    with requests.Session() as session:
        for attempt in range(attempts):
            if attempt:
                time.sleep(min(backoff * 2 ** (attempt - 1), MAX_BACKOFF))
            try:
                return _attempt(session, url, body, headers, float(timeout))
            except _Retryable as exc:
                last = str(exc)
            except requests.RequestException as exc:  # invalid URL and the like: no retry
                return _error(f"request failed: {clip(str(exc), 160)}")
    tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
    return _error(f"{last} ({tries})")
