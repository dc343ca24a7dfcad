"""review.client.AsyncReviewClient against the live app over real HTTP: every call, the
retries (a fault proxy on 127.0.0.1 injects 503/429/502, lost answers and stalls),
idempotent ingest, the same exceptions as the sync client, timeouts."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import pytest
from sqlalchemy import func, select

from review.client import (
    AuthError,
    Conflict,
    Item,
    NotFound,
    RateLimited,
    ReviewClient,
    Timeout,
    Unavailable,
    ValidationError,
    WebhookVerificationError,
)
from review.client.async_client import AsyncReviewClient
from review.core.models import ApiKey
from review.core.models import Item as ItemRow
from review.webhooks.signing import sign
from tests.client.fault_proxy import Fault, FaultProxy
from tests.conftest import LiveServer, make_config


@pytest.fixture(autouse=True)
def support_queue(make_queue):
    make_queue("support", audit_rate=0.0, blocked_phrases=["fraudulent claim"])


@pytest.fixture
def proxy(live_server):
    started: list[FaultProxy] = []

    def _start(*script: Fault) -> FaultProxy:
        started.append(FaultProxy(live_server.url, list(script)))
        return started[-1]

    yield _start
    for p in started:
        p.stop()


def run(coro):
    return asyncio.run(coro)


def recorder(slept: list[float]):
    async def sleep(seconds: float) -> None:  # the wait asked for, without waiting
        slept.append(seconds)
    return sleep


def item_count(app) -> int:
    with app.extensions["review.sessionmaker"]() as session:
        return session.scalar(select(func.count()).select_from(ItemRow))


def test_every_call(live_server, submit_key, db):
    async def scenario():
        async with AsyncReviewClient(live_server.url, submit_key, max_retries=0) as api:
            item = await api.submit("support", "Your order ships Monday.", 0.95,
                                    external_id="a-1", input={"q": "when?"},
                                    context=["Orders ship Monday."],
                                    model={"name": "gpt", "version": "4"}, prompt_version="p1",
                                    priority=70, metadata={"lang": "en"})
            pending = await api.submit("support", "Needs a look.", 0.2)
            got = await api.get(pending.id)
            decided = await api.wait(item.id, timeout=5)
            batch = await api.submit_batch([
                {"queue": "support", "output": "ok", "confidence": 0.95, "external_id": "b-1"},
                {"queue": "support", "output": "bad", "confidence": 7},
            ])
            feed = api.decisions(queue="support", limit=1)
            fed = [i.id async for i in feed]
            later = (await api.submit("support", "late", 0.99)).id
            resumed = [i.id async for i in api.decisions(queue="support", after=feed.cursor)]
            raw = await api.request("GET", f"/api/v1/items/{item.id}/events")
            return item, pending, got, decided, batch, fed, later, resumed, raw

    item, pending, got, decided, batch, fed, later, resumed, raw = run(scenario())
    assert isinstance(item, Item) and item.status == "approved" and item.approved
    assert item.route.path == "auto" and item.decision.decided_by == "router"
    assert item.decision.decided_at.tzinfo is not None
    assert item.external_id == "a-1" and item.raw["metadata"] == {"lang": "en"}
    assert pending.external_id.startswith("rvc-") and pending.sla.due_at is not None
    assert got.id == pending.id and got.status == "pending" and not got.decided
    assert decided.decision.outcome == "approve"
    assert [e.result for e in batch.entries] == ["created", "error"]
    assert isinstance(batch.errors[0].error, ValidationError)
    assert fed == [item.id, batch.ids[0]] and resumed == [later]
    assert raw.status_code == 200 and raw.json()
    secret = db.scalar(select(ApiKey.webhook_secret).where(ApiKey.name == "upstream"))
    body = json.dumps({"type": "item.decided", "item": item.raw}).encode()
    assert AsyncReviewClient.verify_webhook({"X-Review-Signature": sign(secret, body)}, body,
                                            secret)["item"]["id"] == item.id
    with pytest.raises(WebhookVerificationError):
        AsyncReviewClient.verify_webhook({}, body, secret)


def test_wait_polls_until_decided_and_times_out_with_last_state(live_server, submit_key, app):
    async def scenario():
        async with AsyncReviewClient(live_server.url, submit_key) as api:
            pending = await api.submit("support", "Still pending.", 0.1)
            with pytest.raises(Timeout) as exc:
                await api.wait(pending.id, timeout=0.3, poll_interval=0.05)
            return pending, exc.value

    pending, timeout = run(scenario())
    assert isinstance(timeout, TimeoutError) and timeout.code == "wait_timeout"
    assert timeout.item.id == pending.id and timeout.item.status == "pending"


def test_errors_map_to_the_sync_clients_exceptions(live_server, submit_key, make_user,
                                                   make_key):
    reviewer_key = make_key("rita-key", "review", make_user("rita"))

    async def failures(client) -> list[tuple[type, int | None, str]]:
        calls = [
            lambda: client.submit("support", "a", 0.95, external_id="dup"),
            lambda: client.submit("support", "b", 0.95, external_id="dup"),
            lambda: client.submit("support", "x", 1.5),
            lambda: client.submit("nope", "x", 0.5),
            lambda: client.get("missing"),
            lambda: client.submit("support", "x", float("nan")),
        ]
        seen = []
        for call in calls:
            try:
                result = call()
                if asyncio.iscoroutine(result):
                    await result
            except Exception as exc:  # noqa: BLE001 - comparing what each client raises
                seen.append((type(exc), exc.status, exc.code))
        return seen

    async def scenario():
        async with AsyncReviewClient(live_server.url, submit_key, max_retries=0) as api, \
                AsyncReviewClient(live_server.url, "rv_wrong", max_retries=0) as bad, \
                AsyncReviewClient(live_server.url, reviewer_key, max_retries=0) as scoped:
            mine = await failures(api)
            with pytest.raises(AuthError) as bad_key:
                await bad.get("x")
            with pytest.raises(AuthError) as wrong_scope:
                await scoped.submit("support", "x", 0.5)
            with pytest.raises(ValidationError) as invalid:
                await api.submit("support", "x", -1)
            return mine, bad_key.value, wrong_scope.value, invalid.value

    mine, bad_key, wrong_scope, invalid = run(scenario())
    assert [m[0] for m in mine] == [Conflict, ValidationError, ValidationError, NotFound,
                                    ValidationError]
    assert mine[0][1:] == (409, "idempotency_conflict") and mine[1][1] == 422
    assert mine[2][2] == "unknown_queue" and mine[3][1] == 404
    assert mine[4] == (ValidationError, None, "invalid_json")  # refused before sending
    assert invalid.details[0]["path"] == "confidence"
    assert (bad_key.status, bad_key.code) == (401, "invalid_key")
    assert (wrong_scope.status, wrong_scope.code) == (403, "wrong_scope")
    # The sync client raises the same classes with the same status and code.
    sync = ReviewClient(live_server.url, submit_key, max_retries=0)
    sync_seen = []
    for call in [lambda: sync.submit("support", "b", 0.95, external_id="dup"),
                 lambda: sync.submit("support", "x", 1.5),
                 lambda: sync.submit("nope", "x", 0.5), lambda: sync.get("missing"),
                 lambda: sync.submit("support", "x", float("nan"))]:
        try:
            call()
        except Exception as exc:  # noqa: BLE001 - compared with the async client's
            sync_seen.append((type(exc), exc.status, exc.code))
    assert sync_seen == mine


async def submit_through(url: str, key: str, slept: list[float], **options):
    async with AsyncReviewClient(url, key, sleep=recorder(slept), **options) as api:
        return await api.submit("support", "Retried.", 0.2)


def test_retries_503_and_429_honouring_retry_after_with_one_request_id(proxy, submit_key, app):
    faults = proxy(Fault(503, retry_after="2"), Fault(429, retry_after="1"))
    slept: list[float] = []
    item = run(submit_through(faults.url, submit_key, slept))
    assert item.status == "pending" and slept == [2.0, 1.0]
    assert len(faults.seen) == 3 and item_count(app) == 1
    assert len({s.headers["X-Request-Id"] for s in faults.seen}) == 1
    assert len({s.body for s in faults.seen}) == 1  # the same external_id each time


def test_retry_after_as_an_http_date(proxy, submit_key):
    from email.utils import formatdate  # only this test builds an HTTP date

    faults = proxy(Fault(503, retry_after=formatdate(time.time() + 30, usegmt=True)))
    slept: list[float] = []
    run(submit_through(faults.url, submit_key, slept))
    assert len(slept) == 1 and 20 < slept[0] <= 30


def test_without_retry_after_the_backoff_doubles_with_jitter(proxy, submit_key):
    faults = proxy(Fault(502), Fault(503), Fault(504), Fault(503))
    slept: list[float] = []
    run(submit_through(faults.url, submit_key, slept, backoff=0.1, max_backoff=0.3))
    assert len(slept) == 4
    assert all(0 <= s <= limit for s, limit in zip(slept, [0.1, 0.2, 0.3, 0.3], strict=True))


def test_retries_used_up_raise_the_last_error(proxy, submit_key):
    faults = proxy(*[Fault(503, retry_after="0")] * 3)
    slept: list[float] = []
    with pytest.raises(Unavailable) as exc:
        run(submit_through(faults.url, submit_key, slept, max_retries=2))
    assert (exc.value.status, exc.value.code) == (503, "injected")
    assert exc.value.headers["retry-after"] == "0" and len(faults.seen) == 3


def test_an_answer_lost_after_ingest_is_replayed_not_duplicated(proxy, submit_key, app):
    faults = proxy(Fault(503, forward_first=True), Fault(),  # the submit, its retry
                   Fault(502, forward_first=True))  # the batch (then its retry)
    slept: list[float] = []

    async def scenario():
        async with AsyncReviewClient(faults.url, submit_key, sleep=recorder(slept)) as api:
            item = await api.submit("support", "Once only.", 0.2)
            batch = await api.submit_batch([{"queue": "support", "output": f"b{n}",
                                             "confidence": 0.2} for n in range(3)])
            return item, batch

    item, batch = run(scenario())
    # The server stored each request before its answer was lost: the retries replay.
    assert item.external_id.startswith("rvc-") and len(slept) == 2
    assert [e.result for e in batch.entries] == ["replayed"] * 3
    assert item_count(app) == 4


def test_rate_limited_by_the_server_honours_its_retry_after(app, submit_key, database_url,
                                                            redis_url, instance_dir):
    from app import create_app  # a second app: the one with a tiny ingest limit

    limited = create_app(make_config(database_url, redis_url, instance_dir,
                                     INGEST_RATE_LIMIT=2))
    server = LiveServer(limited).start()
    slept: list[float] = []

    async def scenario():
        async with AsyncReviewClient(server.url, submit_key, max_retries=1,
                                     sleep=recorder(slept)) as api:
            await api.submit("support", "one", 0.95)
            await api.submit("support", "two", 0.95)
            with pytest.raises(RateLimited) as exc:
                await api.submit("support", "three", 0.95)
            return exc.value

    try:
        limited_error = run(scenario())
    finally:
        server.stop()
        limited.extensions["review.engine"].dispose()
    assert (limited_error.status, limited_error.code) == (429, "rate_limited")
    assert 1 <= limited_error.retry_after <= 60
    # One retry, after the wait the server asked for (not slept here: recorded).
    assert len(slept) == 1 and 1 <= slept[0] <= 60


def test_a_stalled_answer_times_out_and_is_retried(proxy, submit_key):
    item = run(submit_through(proxy().url, submit_key, []))
    stalls = proxy(Fault(hang=10))
    slept: list[float] = []

    async def scenario(url: str, timeout: float):
        async with AsyncReviewClient(url, submit_key, timeout=timeout, max_retries=1,
                                     backoff=0.01, sleep=recorder(slept)) as api:
            return await api.get(item.id)

    started = time.monotonic()
    assert run(scenario(stalls.url, 1.0)).id == item.id
    assert len(slept) == 1 and len(stalls.seen) == 2
    never = proxy(Fault(hang=10), Fault(hang=10))
    with pytest.raises(Unavailable) as exc:
        run(scenario(never.url, 0.3))
    assert exc.value.status is None and exc.value.code == "connection_failed"
    assert exc.value.details == {"attempts": 2} and "Timeout" in exc.value.message
    assert time.monotonic() - started < 8  # three timeouts of 1 s at most, not 10 s stalls


def test_connection_refused_retries_then_raises_unavailable(submit_key):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    slept: list[float] = []
    with pytest.raises(Unavailable) as exc:
        run(submit_through(f"http://127.0.0.1:{port}", submit_key, slept, max_retries=3,
                           backoff=0.01))
    assert exc.value.status is None and exc.value.code == "connection_failed"
    assert exc.value.details == {"attempts": 4} and len(slept) == 3


def test_both_clients_send_the_same_request(proxy, submit_key):
    seen = proxy()
    args = dict(external_id="same-1", context=["c"], metadata={"k": "v"}, priority=5)
    ReviewClient(seen.url, submit_key).submit("support", "Same.", 0.2, **args)

    async def scenario():
        async with AsyncReviewClient(seen.url, submit_key) as api:
            return await api.submit("support", "Same.", 0.2, **args)

    run(scenario())
    sync_sent, async_sent = seen.seen
    assert sync_sent.body == async_sent.body and sync_sent.path == async_sent.path
    for header in ("Authorization", "Content-Type", "User-Agent"):
        assert sync_sent.headers[header] == async_sent.headers[header], header


def test_a_cancelled_call_leaves_the_client_usable(proxy, submit_key):
    item = run(submit_through(proxy().url, submit_key, []))
    stalls = proxy(Fault(hang=10))

    async def scenario():
        async with AsyncReviewClient(stalls.url, submit_key, timeout=30) as api:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(api.get(item.id), 0.3)  # cancels the stalled request
            return await api.get(item.id)  # the next request forwards

    started = time.monotonic()
    assert run(scenario()).id == item.id
    assert time.monotonic() - started < 5 and len(stalls.seen) == 2
