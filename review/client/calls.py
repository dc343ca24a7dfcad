"""The API calls of both clients without any I/O: what each call sends, how its answer
is read, when a failure is retried and how long to wait first.

`ReviewClient` (requests) and `AsyncReviewClient` (httpx) are thin transports over
this module, so the two cannot drift apart: the same payloads (an `external_id` on
every submit, so a retry never creates a second item), the same retry policy
(429/502/503/504 and lost connections, exponential backoff with full jitter,
`Retry-After` honoured), the same exceptions.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from review.client.errors import (
    ResponseLike,
    ReviewError,
    Unavailable,
    ValidationError,
    error_from_response,
    retry_after_seconds,
)
from review.client.models import BatchResult, Item, Timeout

RETRY_STATUSES = (429, 502, 503, 504)
USER_AGENT = "review-client/1"

T = TypeVar("T")


@dataclass(frozen=True)
class Call(Generic[T]):
    """One API request and the parser of its successful answer."""

    method: str
    path: str
    parse: Callable[[Any], T]
    body: Any = None  # JSON-serialisable; None sends no body
    params: dict[str, Any] = field(default_factory=dict)

    def content(self) -> bytes | None:
        """The JSON body as bytes (NaN and infinities refused, as the server does)."""
        if self.body is None:
            return None
        try:
            return json.dumps(self.body, allow_nan=False, separators=(",", ":")).encode()
        except ValueError as exc:
            raise ValidationError(f"the request body is not valid JSON: {exc}",
                                  code="invalid_json") from exc

    def headers(self, request_id: str) -> dict[str, str]:
        headers = {"X-Request-Id": request_id}
        if self.body is not None:
            headers["Content-Type"] = "application/json"
        return headers

    def result(self, resp: ResponseLike) -> T:
        """The typed result of a 2xx answer."""
        try:
            data = resp.json()
        except ValueError as exc:
            raise ReviewError(f"the answer is not JSON: {resp.text[:200]!r}",
                              status=resp.status_code, code="bad_response",
                              headers=resp.headers) from exc
        return self.parse(data)


def client_headers(api_key: str) -> dict[str, str]:
    """Headers every request of a client carries."""
    return {"Authorization": f"Bearer {api_key}", "User-Agent": USER_AGENT}


def new_request_id() -> str:
    """One X-Request-Id per call, the same on each of its retries (one line in the logs)."""
    return uuid.uuid4().hex


def new_external_id() -> str:
    """A client-side idempotency key for callers that did not give one."""
    return f"rvc-{uuid.uuid4().hex}"


def item_payload(queue: str, output: Any, confidence: float, *, external_id: str | None = None,
                 **optional: Any) -> dict[str, Any]:
    """The JSON body of one submit; optional fields left out when None."""
    payload: dict[str, Any] = {"queue": queue, "output": output, "confidence": confidence,
                               "external_id": external_id or new_external_id()}
    payload.update({k: v for k, v in optional.items() if v is not None})
    return payload


# The calls -----------------------------------------------------------------------------

def submit(queue: str, output: Any, confidence: float, *, external_id: str | None = None,
           **optional: Any) -> Call[Item]:
    payload = item_payload(queue, output, confidence, external_id=external_id, **optional)
    return Call("POST", "/api/v1/items", Item.from_dict, body=payload)


def submit_batch(items: Iterable[Mapping[str, Any]]) -> Call[BatchResult]:
    payloads = []
    for spec in items:
        payload = {k: v for k, v in spec.items() if v is not None}
        payload.setdefault("external_id", new_external_id())
        payloads.append(payload)
    return Call("POST", "/api/v1/items/batch", BatchResult.from_dict, body={"items": payloads})


def get(item_id: str) -> Call[Item]:
    return Call("GET", f"/api/v1/items/{item_id}", Item.from_dict)


def raw(method: str, path: str, *, body: Any = None,
        params: dict[str, Any] | None = None) -> Call[Any]:
    """The call behind the clients' `request()`: its caller reads the response itself."""
    return Call(method, path, _unparsed, body=body, params=params or {})


def _unparsed(data: Any) -> Any:
    return data


@dataclass
class DecisionPage:
    items: list[Item]
    next: str | None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DecisionPage:
        return cls([Item.from_dict(i) for i in d.get("items", [])], d.get("next"))


class FeedPager:
    """Where a walk over the decisions feed is: `cursor` is where a later run resumes."""

    def __init__(self, queue: str | None, after: str | None, limit: int) -> None:
        self.queue = queue
        self.limit = limit
        self.cursor = after
        self.done = False

    def next_call(self) -> Call[DecisionPage]:
        params: dict[str, Any] = {"limit": self.limit}
        if self.queue:
            params["queue"] = self.queue
        if self.cursor:
            params["after"] = self.cursor
        return Call("GET", "/api/v1/decisions", DecisionPage.from_dict, params=params)

    def take(self, page: DecisionPage) -> list[Item]:
        """The page's items; an empty page ends the walk."""
        if not page.items:
            self.done = True
        else:
            self.cursor = page.next or self.cursor
        return page.items


# Retries and waits ---------------------------------------------------------------------

@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 5
    backoff: float = 0.5  # the first retry waits up to this long; each next one twice that
    max_backoff: float = 30.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after
        # Exponential with full jitter so many clients do not retry in lockstep.
        return random.uniform(0, min(self.max_backoff, self.backoff * 2 ** attempt))

    def attempts(self, url: str) -> Attempts:
        return Attempts(self, url)


class Attempts:
    """The retry decisions of one call: each transport loops `send; ask; sleep`."""

    def __init__(self, policy: RetryPolicy, url: str) -> None:
        self.policy = policy
        self.url = url
        self.attempt = 0

    def after_failure(self, exc: Exception) -> float:
        """No answer came (refused, reset, timed out): the pause before retrying, or
        Unavailable when the retries are used up."""
        if self.attempt >= self.policy.max_retries:
            raise Unavailable(f"no response from {self.url}: {exc!r}", code="connection_failed",
                              details={"attempts": self.attempt + 1}) from exc
        return self._next(None)

    def after_response(self, resp: ResponseLike) -> float | None:
        """None when `resp` is the answer; else the pause before retrying. Raises the
        mapped ReviewError for an error that is final."""
        if resp.status_code < 400:
            return None
        if resp.status_code not in RETRY_STATUSES or self.attempt >= self.policy.max_retries:
            raise error_from_response(resp)
        return self._next(retry_after_seconds(resp.headers.get("Retry-After")))

    def _next(self, retry_after: float | None) -> float:
        pause = self.policy.delay(self.attempt, retry_after)
        self.attempt += 1
        return pause


class WaitClock:
    """The polling schedule of `wait()`: the interval grows 1.5x up to `max_interval`."""

    def __init__(self, item_id: str, timeout: float, poll_interval: float,
                 max_interval: float) -> None:
        self.item_id = item_id
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.interval = poll_interval
        self.max_interval = max_interval

    def pause_after(self, item: Item) -> float | None:
        """None when `item` is decided; else how long to sleep before the next poll.
        Raises Timeout (carrying `item`) once the deadline has passed."""
        if item.decided:
            return None
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise Timeout(f"item {self.item_id} not decided within {self.timeout} s "
                          f"(status {item.status})", item=item)
        pause = min(self.interval, remaining)
        self.interval = min(self.max_interval, self.interval * 1.5)
        return pause
