"""`AsyncReviewClient`: the same calls, retries, idempotency keys and exceptions as
`ReviewClient`, on httpx for asyncio services (FastAPI, Starlette, aiohttp...).

    from review.client import AsyncReviewClient
    async with AsyncReviewClient("http://127.0.0.1:8000", "rv_...") as client:
        item = await client.submit("support", "Your refund was sent.", 0.42)
        decided = await client.wait(item.id, timeout=3600)

Needs httpx (`pip install 'review[async]'`). Requests and answers are shaped in
review/client/calls.py, shared with the sync client; this module only sends them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, TypeVar

import httpx

from review.client import calls
from review.client.calls import RetryPolicy
from review.client.models import BatchResult, Item
from review.client.webhooks import verify_webhook

__all__ = ["AsyncDecisionFeed", "AsyncReviewClient"]

T = TypeVar("T")

# No answer came: retried like requests' ConnectionError and Timeout in the sync client.
# (httpx.UnsupportedProtocol and the like are the caller's mistake: not retried.)
TRANSIENT_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


class AsyncReviewClient:
    """A thin, retrying async client. One instance may serve many concurrent tasks;
    close it (`await client.aclose()` or `async with`) when the service stops."""

    def __init__(self, base_url: str, api_key: str, timeout: float = 10,
                 max_retries: int = 5, *, backoff: float = 0.5, max_backoff: float = 30.0,
                 client: httpx.AsyncClient | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.http = client or httpx.AsyncClient()
        self.http.headers.update(calls.client_headers(api_key))
        self._sleep = sleep

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> AsyncReviewClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    # transport ----------------------------------------------------------------

    async def request(self, method: str, path: str, *, json_body: Any = None,
                      params: dict[str, Any] | None = None) -> httpx.Response:
        """One API call with retries on 429/502/503/504 and connection errors.

        Only call it for idempotent requests: every method here is (submits
        carry an external_id). The same X-Request-Id goes with every retry.
        """
        return await self._send(calls.raw(method, path, body=json_body, params=params))

    async def _send(self, call: calls.Call[Any]) -> httpx.Response:
        url = f"{self.base_url}{call.path}"
        content, headers = call.content(), call.headers(calls.new_request_id())
        attempts = RetryPolicy(self.max_retries, self.backoff, self.max_backoff).attempts(url)
        while True:
            try:
                resp = await self.http.request(call.method, url, content=content,
                                               params=call.params, headers=headers,
                                               timeout=self.timeout)
            except TRANSIENT_ERRORS as exc:
                await self._sleep(attempts.after_failure(exc))
                continue
            pause = attempts.after_response(resp)
            if pause is None:
                return resp
            await self._sleep(pause)

    async def _call(self, call: calls.Call[T]) -> T:
        return call.result(await self._send(call))

    # API ----------------------------------------------------------------------

    async def submit(self, queue: str, output: Any, confidence: float, *,
                     external_id: str | None = None, input: Any = None,  # noqa: A002 - API name
                     context: list[Any] | None = None, model: dict[str, str] | None = None,
                     prompt_version: str | None = None, priority: int | None = None,
                     metadata: dict[str, Any] | None = None,
                     callback_url: str | None = None) -> Item:
        """Submit one model output; a replay of the same external_id returns the stored item."""
        return await self._call(calls.submit(
            queue, output, confidence, external_id=external_id, input=input, context=context,
            model=model, prompt_version=prompt_version, priority=priority, metadata=metadata,
            callback_url=callback_url))

    async def submit_batch(self, items: Iterable[Mapping[str, Any]]) -> BatchResult:
        """Submit up to 500 item payloads (dicts shaped like `submit`'s arguments)."""
        return await self._call(calls.submit_batch(items))

    async def get(self, item_id: str) -> Item:
        return await self._call(calls.get(item_id))

    async def wait(self, item_id: str, timeout: float, poll_interval: float = 0.5,
                   max_interval: float = 15.0) -> Item:
        """Poll until the item is decided; the interval grows 1.5x up to `max_interval`.

        Raises Timeout (with the last seen item) when `timeout` seconds pass.
        For long waits prefer a webhook (`callback_url`) over polling.
        """
        clock = calls.WaitClock(item_id, timeout, poll_interval, max_interval)
        while True:
            item = await self.get(item_id)
            pause = clock.pause_after(item)
            if pause is None:
                return item
            await self._sleep(pause)

    def decisions(self, queue: str | None = None, after: str | None = None,
                  limit: int = 100) -> AsyncDecisionFeed:
        """Decided items in decision order (`async for`), following `next` cursors until
        a page is empty. The feed's `cursor` is the position to resume from later."""
        return AsyncDecisionFeed(self, queue, after, limit)

    # Receivers often hold only a client: the same check as the module function.
    verify_webhook = staticmethod(verify_webhook)


class AsyncDecisionFeed:
    """Async iterator over the decisions feed; `cursor` is where a later run resumes."""

    def __init__(self, client: AsyncReviewClient, queue: str | None, after: str | None,
                 limit: int) -> None:
        self._client = client
        self._pager = calls.FeedPager(queue, after, limit)
        self._page: list[Item] = []

    @property
    def cursor(self) -> str | None:
        return self._pager.cursor

    def __aiter__(self) -> AsyncIterator[Item]:
        return self

    async def __anext__(self) -> Item:
        while not self._page:
            if self._pager.done:
                raise StopAsyncIteration
            self._page = self._pager.take(await self._client._call(self._pager.next_call()))
        return self._page.pop(0)
