"""Python client for the review API (no Flask, no app imports): `ReviewClient` on
requests, and `AsyncReviewClient` on httpx (`pip install 'review[async]'`).

    from review.client import ReviewClient
    client = ReviewClient("http://127.0.0.1:8000", "rv_...")
    item = client.submit("support", "Your refund was sent.", 0.42)
    decided = client.wait(item.id, timeout=3600)

Every submit carries an `external_id` (one is generated when the caller gives
none), so retries after a 429, a 503 or a dropped connection can never create
a second item: the server answers the replay with the stored one. Both clients
build their requests and read the answers in review/client/calls.py; each adds
only its transport.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import requests

from review.client import calls
from review.client.calls import RETRY_STATUSES as RETRY_STATUSES
from review.client.calls import RetryPolicy
from review.client.calls import item_payload as item_payload
from review.client.calls import new_external_id as new_external_id
from review.client.errors import (
    AuthError,
    Conflict,
    NotFound,
    RateLimited,
    ReviewError,
    Unavailable,
    ValidationError,
    WebhookVerificationError,
)
from review.client.errors import error_from_response as error_from_response
from review.client.errors import retry_after_seconds as retry_after_seconds
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

if TYPE_CHECKING:
    from review.client.async_client import AsyncDecisionFeed as AsyncDecisionFeed
    from review.client.async_client import AsyncReviewClient as AsyncReviewClient

__all__ = [
    "AuthError", "BatchEntry", "BatchResult", "Check", "Conflict", "Decision", "Item",
    "NotFound", "RateLimited", "ReviewClient", "ReviewError", "Route", "Sla", "Timeout",
    "Unavailable", "ValidationError", "WebhookVerificationError", "verify_webhook",
    "SIGNATURE_HEADER",
    # Also here, loaded on first use (they need httpx): AsyncReviewClient, AsyncDecisionFeed.
]

T = TypeVar("T")


def __getattr__(name: str) -> Any:
    """`from review.client import AsyncReviewClient` without importing httpx for the
    sync client's users (httpx is the optional `async` extra)."""
    if name in ("AsyncReviewClient", "AsyncDecisionFeed"):
        try:
            from review.client import async_client  # here: only async callers need httpx
        except ModuleNotFoundError as exc:
            if exc.name != "httpx":
                raise
            raise ModuleNotFoundError(f"{name} needs httpx: pip install 'review[async]'",
                                      name="httpx") from exc

        return getattr(async_client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class ReviewClient:
    """A thin, retrying client on requests. Thread-safe enough to share across threads
    only if the `session` you pass is; by default each client owns one Session."""

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
        self.http.headers.update(calls.client_headers(api_key))
        self._sleep = sleep

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> ReviewClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # transport ----------------------------------------------------------------

    def request(self, method: str, path: str, *, json_body: Any = None,
                params: dict[str, Any] | None = None) -> requests.Response:
        """One API call with retries on 429/502/503/504 and connection errors.

        Only call it for idempotent requests: every method here is (submits
        carry an external_id). The same X-Request-Id goes with every retry.
        """
        return self._send(calls.raw(method, path, body=json_body, params=params))

    def _send(self, call: calls.Call[Any]) -> requests.Response:
        url = f"{self.base_url}{call.path}"
        content, headers = call.content(), call.headers(calls.new_request_id())
        attempts = RetryPolicy(self.max_retries, self.backoff, self.max_backoff).attempts(url)
        while True:
            try:
                resp = self.http.request(call.method, url, data=content, params=call.params,
                                         headers=headers, timeout=self.timeout)
            except (requests.ConnectionError, requests.Timeout) as exc:
                self._sleep(attempts.after_failure(exc))
                continue
            pause = attempts.after_response(resp)
            if pause is None:
                return resp
            self._sleep(pause)

    def _call(self, call: calls.Call[T]) -> T:
        return call.result(self._send(call))

    # API ----------------------------------------------------------------------

    def submit(self, queue: str, output: Any, confidence: float, *,
               external_id: str | None = None, input: Any = None,  # noqa: A002 - API name
               context: list[Any] | None = None, model: dict[str, str] | None = None,
               prompt_version: str | None = None, priority: int | None = None,
               metadata: dict[str, Any] | None = None,
               callback_url: str | None = None) -> Item:
        """Submit one model output; a replay of the same external_id returns the stored item."""
        return self._call(calls.submit(
            queue, output, confidence, external_id=external_id, input=input, context=context,
            model=model, prompt_version=prompt_version, priority=priority, metadata=metadata,
            callback_url=callback_url))

    def submit_batch(self, items: Iterable[Mapping[str, Any]]) -> BatchResult:
        """Submit up to 500 item payloads (dicts shaped like `submit`'s arguments)."""
        return self._call(calls.submit_batch(items))

    def get(self, item_id: str) -> Item:
        return self._call(calls.get(item_id))

    def wait(self, item_id: str, timeout: float, poll_interval: float = 0.5,
             max_interval: float = 15.0) -> Item:
        """Poll until the item is decided; the interval grows 1.5x up to `max_interval`.

        Raises Timeout (with the last seen item) when `timeout` seconds pass.
        For long waits prefer a webhook (`callback_url`) over polling.
        """
        clock = calls.WaitClock(item_id, timeout, poll_interval, max_interval)
        while True:
            item = self.get(item_id)
            pause = clock.pause_after(item)
            if pause is None:
                return item
            self._sleep(pause)

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
        self._pager = calls.FeedPager(queue, after, limit)
        self._page: list[Item] = []

    @property
    def cursor(self) -> str | None:
        return self._pager.cursor

    def __iter__(self) -> Iterator[Item]:
        return self

    def __next__(self) -> Item:
        while not self._page:
            if self._pager.done:
                raise StopIteration
            self._page = self._pager.take(self._client._call(self._pager.next_call()))
        return self._page.pop(0)
