"""Python client for the review API (requests only: no Flask, no app imports).

    from review.client import ReviewClient
    client = ReviewClient("http://127.0.0.1:8000", "rv_...")
    item = client.submit("support", "Your refund was sent.", 0.42)
    decided = client.wait(item.id, timeout=3600)

Every submit carries an `external_id` (one is generated when the caller gives
none), so retries after a 429, a 503 or a dropped connection can never create
a second item: the server answers the replay with the stored one.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import requests

from review.client.errors import (
    AuthError,
    Conflict,
    NotFound,
    RateLimited,
    ReviewError,
    Unavailable,
    ValidationError,
    WebhookVerificationError,
    error_from_response,
    retry_after_seconds,
)
from review.client.models import (
    BatchEntry,
    BatchResult,
    Check,
    Decision,
    Item,
    Route,
    Sla,
    Timeout,
)
from review.client.webhooks import SIGNATURE_HEADER, verify_webhook

__all__ = [
    "AuthError", "BatchEntry", "BatchResult", "Check", "Conflict", "Decision", "Item",
    "NotFound", "RateLimited", "ReviewClient", "ReviewError", "Route", "Sla", "Timeout",
    "Unavailable", "ValidationError", "WebhookVerificationError", "verify_webhook",
    "SIGNATURE_HEADER",
]

RETRY_STATUSES = (429, 502, 503, 504)


class ReviewClient:
    """A thin, retrying client. Thread-safe enough to share across threads only
    if the `session` you pass is; by default each client owns one Session."""

    def __init__(self, base_url: str, api_key: str, timeout: float = 10,
                 max_retries: int = 5, *, backoff: float = 0.5, max_backoff: float = 30.0,
                 session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.http = session or requests.Session()
        self.http.headers.update({"Authorization": f"Bearer {api_key}",
                                  "User-Agent": "review-client/1"})
        self._sleep = sleep

    # requests ---------------------------------------------------------------

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after
        # Exponential with full jitter so many clients do not retry in lockstep.
        return random.uniform(0, min(self.max_backoff, self.backoff * 2 ** attempt))

    def request(self, method: str, path: str, *, json_body: Any = None,
                params: dict[str, Any] | None = None) -> requests.Response:
        """One API call with retries on 429/502/503/504 and connection errors.

        Only call it for idempotent requests: every method here is (submits
        carry an external_id). The same X-Request-Id goes with every retry.
        """
        headers = {"X-Request-Id": uuid.uuid4().hex}
        url = f"{self.base_url}{path}"
        attempt = 0
        while True:
            try:
                resp = self.http.request(method, url, json=json_body, params=params,
                                         headers=headers, timeout=self.timeout)
            except (requests.ConnectionError, requests.Timeout) as exc:
                if attempt >= self.max_retries:
                    raise Unavailable(f"no response from {url}: {exc}", code="connection_failed",
                                      details={"attempts": attempt + 1}) from exc
                self._sleep(self._delay(attempt, None))
                attempt += 1
                continue
            if resp.status_code < 400:
                return resp
            if resp.status_code not in RETRY_STATUSES or attempt >= self.max_retries:
                raise error_from_response(resp)
            self._sleep(self._delay(attempt, retry_after_seconds(resp.headers.get("Retry-After"))))
            attempt += 1

    # API --------------------------------------------------------------------

    def submit(self, queue: str, output: Any, confidence: float, *,
               external_id: str | None = None, input: Any = None,  # noqa: A002 - API name
               context: list[Any] | None = None, model: dict[str, str] | None = None,
               prompt_version: str | None = None, priority: int | None = None,
               metadata: dict[str, Any] | None = None,
               callback_url: str | None = None) -> Item:
        """Submit one model output; a replay of the same external_id returns the stored item."""
        payload = item_payload(queue, output, confidence, external_id=external_id, input=input,
                               context=context, model=model, prompt_version=prompt_version,
                               priority=priority, metadata=metadata, callback_url=callback_url)
        return Item.from_dict(self.request("POST", "/api/v1/items", json_body=payload).json())

    def submit_batch(self, items: Iterable[Mapping[str, Any]]) -> BatchResult:
        """Submit up to 500 item payloads (dicts shaped like `submit`'s arguments)."""
        payloads = []
        for spec in items:
            payload = {k: v for k, v in spec.items() if v is not None}
            payload.setdefault("external_id", new_external_id())
            payloads.append(payload)
        resp = self.request("POST", "/api/v1/items/batch", json_body={"items": payloads})
        return BatchResult.from_dict(resp.json())

    def get(self, item_id: str) -> Item:
        return Item.from_dict(self.request("GET", f"/api/v1/items/{item_id}").json())

    def wait(self, item_id: str, timeout: float, poll_interval: float = 0.5,
             max_interval: float = 15.0) -> Item:
        """Poll until the item is decided; the interval grows 1.5x up to `max_interval`.

        Raises Timeout (with the last seen item) when `timeout` seconds pass.
        For long waits prefer a webhook (`callback_url`) over polling.
        """
        deadline = time.monotonic() + timeout
        interval = poll_interval
        while True:
            item = self.get(item_id)
            if item.decided:
                return item
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Timeout(f"item {item_id} not decided within {timeout} s "
                              f"(status {item.status})", item=item)
            self._sleep(min(interval, remaining))
            interval = min(max_interval, interval * 1.5)

    def decisions(self, queue: str | None = None, after: str | None = None,
                  limit: int = 100) -> DecisionFeed:
        """Decided items in decision order, following `next` cursors until a page is empty.

        The returned iterator's `cursor` is the position to resume from later.
        """
        return DecisionFeed(self, queue, after, limit)

    # Receivers often hold only a client: the same check as the module function.
    verify_webhook = staticmethod(verify_webhook)


class DecisionFeed:
    """Iterator over the decisions feed; `cursor` is where a later run resumes."""

    def __init__(self, client: ReviewClient, queue: str | None, after: str | None,
                 limit: int) -> None:
        self._client = client
        self._queue = queue
        self._limit = limit
        self.cursor = after
        self._page: list[Item] = []
        self._done = False

    def __iter__(self) -> Iterator[Item]:
        return self

    def __next__(self) -> Item:
        while not self._page:
            if self._done:
                raise StopIteration
            params: dict[str, Any] = {"limit": self._limit}
            if self._queue:
                params["queue"] = self._queue
            if self.cursor:
                params["after"] = self.cursor
            page = self._client.request("GET", "/api/v1/decisions", params=params).json()
            self._page = [Item.from_dict(d) for d in page.get("items", [])]
            if not self._page:
                self._done = True
            else:
                self.cursor = page.get("next") or self.cursor
        return self._page.pop(0)


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
