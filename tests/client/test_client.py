"""review.client against the live app over real HTTP."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import requests
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
    verify_webhook,
)
from review.core.models import ApiKey
from review.core.models import Item as ItemRow
from review.webhooks.signing import sign
from tests.conftest import LiveServer, make_config


@pytest.fixture(autouse=True)
def support_queue(make_queue):
    make_queue("support", audit_rate=0.0, blocked_phrases=["fraudulent claim"])


@pytest.fixture
def api(live_server, submit_key) -> ReviewClient:
    return ReviewClient(live_server.url, submit_key, max_retries=0)


def test_submit_returns_typed_item(api):
    item = api.submit("support", "Your order ships Monday.", 0.95, external_id="t-1",
                      input={"q": "when?"}, context=["Orders ship Monday."],
                      model={"name": "gpt", "version": "4"}, prompt_version="p1",
                      priority=70, metadata={"lang": "en"})
    assert isinstance(item, Item)
    assert item.status == "approved" and item.decided and item.approved
    assert item.route.path == "auto" and item.route.reasons
    assert item.decision.outcome == "approve" and item.decision.decided_by == "router"
    assert item.decision.output == "Your order ships Monday."
    assert item.decision.decided_at.tzinfo is not None
    assert item.sla.due_at is None and item.sla.breached is False
    assert item.external_id == "t-1"
    assert item.raw["metadata"] == {"lang": "en"} and item.raw["priority"] == 70


def test_submit_without_external_id_gets_one_and_replays_idempotently(api, app):
    first = api.submit("support", "Needs a look.", 0.2)
    assert first.external_id and first.external_id.startswith("rvc-")
    assert first.status == "pending" and not first.decided
    assert first.sla.due_at is not None
    again = api.submit("support", "Needs a look.", 0.2, external_id=first.external_id)
    assert again.id == first.id
    with app.app_context():
        from review.core.db import get_session

        assert get_session().scalar(select(func.count()).select_from(ItemRow)) == 1


def test_errors_map_to_exceptions(api, live_server):
    api.submit("support", "a", 0.95, external_id="dup")
    with pytest.raises(Conflict) as conflict:
        api.submit("support", "b", 0.95, external_id="dup")
    assert conflict.value.status == 409 and conflict.value.code == "idempotency_conflict"
    with pytest.raises(ValidationError) as invalid:
        api.submit("support", "x", 1.5)
    assert invalid.value.status == 422 and invalid.value.details[0]["path"] == "confidence"
    with pytest.raises(ValidationError) as unknown:
        api.submit("nope", "x", 0.5)
    assert unknown.value.code == "unknown_queue"
    with pytest.raises(NotFound):
        api.get("missing")
    with pytest.raises(AuthError) as bad_key:
        ReviewClient(live_server.url, "rv_wrong", max_retries=0).get("x")
    assert bad_key.value.status == 401 and bad_key.value.code == "invalid_key"


def test_wrong_scope_is_auth_error(live_server, make_user, make_key):
    user = make_user("rita")
    key = make_key("rita-key", "review", user)
    with pytest.raises(AuthError) as exc:
        ReviewClient(live_server.url, key, max_retries=0).submit("support", "x", 0.5)
    assert exc.value.status == 403 and exc.value.code == "wrong_scope"


def test_get_and_wait(api, app):
    decided = api.submit("support", "fine", 0.99)
    assert api.wait(decided.id, timeout=5).decision.outcome == "approve"
    pending = api.submit("support", "Check me.", 0.1)
    assert api.get(pending.id).status == "pending"

    def decide_while_waiting(seconds: float) -> None:
        # The client's sleep between polls: a reviewer decides meanwhile.
        with app.app_context():
            from review.core.db import get_session
            from review.human.decisions import record_decision

            session = get_session()
            row = session.get(ItemRow, pending.id)
            if row.decided_at is None:
                record_decision(session, row, outcome="reject", decided_by="rita",
                                kind="reviewer", reason="incorrect")
                session.commit()

    waiter = ReviewClient(api.base_url, api.http.headers["Authorization"].split()[1],
                          sleep=decide_while_waiting)
    final = waiter.wait(pending.id, timeout=30, poll_interval=0.01)
    assert final.status == "rejected" and final.decision.reason == "incorrect"
    assert final.decision.output is None


def test_wait_times_out_with_last_state(api):
    pending = api.submit("support", "Still pending.", 0.1)
    with pytest.raises(Timeout) as exc:
        api.wait(pending.id, timeout=0.3, poll_interval=0.05)
    assert isinstance(exc.value, TimeoutError)
    assert exc.value.item.id == pending.id and exc.value.item.status == "pending"


def test_submit_batch(api):
    result = api.submit_batch([
        {"queue": "support", "output": "ok", "confidence": 0.95, "external_id": "b-1"},
        {"queue": "support", "output": "look", "confidence": 0.1},
        {"queue": "support", "output": "bad", "confidence": 7},
    ])
    assert [e.result for e in result.entries] == ["created", "created", "error"]
    assert result.summary == {"created": 2, "replayed": 0, "error": 1}
    assert result.ids[0] and result.ids[2] is None
    assert isinstance(result.errors[0].error, ValidationError)
    assert api.get(result.ids[1]).external_id.startswith("rvc-")
    again = api.submit_batch([{"queue": "support", "output": "ok", "confidence": 0.95,
                               "external_id": "b-1"}])
    assert again.entries[0].result == "replayed" and again.entries[0].id == result.ids[0]


def test_decisions_iterator_follows_cursors(api):
    ids = [api.submit("support", f"ok {n}", 0.95).id for n in range(7)]
    api.submit("support", "pending", 0.1)
    feed = api.decisions(queue="support", limit=3)
    assert [item.id for item in feed] == ids
    assert all(isinstance(item, Item) for item in api.decisions(limit=2))
    # Resuming from the saved cursor yields only what was decided since.
    late = api.submit("support", "late", 0.95).id
    assert [item.id for item in api.decisions(queue="support", after=feed.cursor)] == [late]


def test_rate_limited_without_retries_raises_with_retry_after(app, app_config, submit_key,
                                                              database_url, redis_url,
                                                              instance_dir):
    from app import create_app

    limited = create_app(make_config(database_url, redis_url, instance_dir,
                                     INGEST_RATE_LIMIT=2))
    server = LiveServer(limited).start()
    try:
        client = ReviewClient(server.url, submit_key, max_retries=0)
        client.submit("support", "one", 0.95)
        client.submit("support", "two", 0.95)
        with pytest.raises(RateLimited) as exc:
            client.submit("support", "three", 0.95)
        assert exc.value.status == 429 and exc.value.code == "rate_limited"
        assert 1 <= exc.value.retry_after <= 60
    finally:
        server.stop()
        limited.extensions["review.engine"].dispose()


def test_rate_limited_retry_honours_retry_after_and_keeps_external_id(
        app, submit_key, database_url, redis_url, instance_dir):
    from app import create_app
    from review.core.rate_limiter import limiter

    limited = create_app(make_config(database_url, redis_url, instance_dir,
                                     INGEST_RATE_LIMIT=1))
    server = LiveServer(limited).start()
    slept: list[float] = []

    def sleep_then_window_resets(seconds: float) -> None:
        # Waiting out a real window takes up to a minute: record the wait the
        # server asked for, then open a fresh window as the clock would.
        slept.append(seconds)
        with limited.app_context():
            limiter.reset()  # this app's counts only: its own key prefix

    try:
        client = ReviewClient(server.url, submit_key, sleep=sleep_then_window_resets)
        client.submit("support", "uses up the window", 0.95)
        item = client.submit("support", "retried", 0.2)
        assert len(slept) == 1 and 1 <= slept[0] <= 60
        assert item.status == "pending" and item.external_id.startswith("rvc-")
        with limited.extensions["review.sessionmaker"]() as session:
            assert session.scalar(select(func.count()).select_from(ItemRow)) == 2
    finally:
        server.stop()
        limited.extensions["review.engine"].dispose()


def test_connection_errors_retry_then_raise_unavailable(submit_key):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    slept: list[float] = []
    client = ReviewClient(f"http://127.0.0.1:{port}", submit_key, max_retries=3,
                          backoff=0.01, sleep=slept.append)
    with pytest.raises(Unavailable) as exc:
        client.submit("support", "x", 0.5)
    assert exc.value.status is None and exc.value.code == "connection_failed"
    assert exc.value.details == {"attempts": 4} and len(slept) == 3


class _Receiver(BaseHTTPRequestHandler):
    """A toy upstream endpoint: verifies each webhook with the client."""

    secret = ""
    events: list = []
    rejected: list = []

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        body = self.rfile.read(int(self.headers["Content-Length"]))
        try:
            self.events.append(verify_webhook(dict(self.headers), body, self.secret))
            self.send_response(204)
        except WebhookVerificationError as exc:
            self.rejected.append(exc.code)
            self.send_response(400)
        self.end_headers()

    def log_message(self, *args) -> None:  # noqa: ANN002
        pass


def test_webhook_signature_round_trip_over_http(api, db):
    secret = db.scalar(select(ApiKey.webhook_secret).where(ApiKey.name == "upstream"))
    item = api.submit("support", "Refund sent.", 0.95)
    _Receiver.secret, _Receiver.events, _Receiver.rejected = secret, [], []
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/hook"
    try:
        body = json.dumps({"type": "item.decided", "item": item.raw}).encode()
        ok = requests.post(url, data=body, timeout=5, headers={
            "Content-Type": "application/json", "X-Review-Signature": sign(secret, body)})
        tampered = requests.post(url, data=body.replace(b"Refund", b"Refuse"), timeout=5,
                                 headers={"X-Review-Signature": sign(secret, body)})
        wrong_secret = requests.post(url, data=body, timeout=5, headers={
            "X-Review-Signature": sign("whsec_other", body)})
        unsigned = requests.post(url, data=body, timeout=5)
    finally:
        server.shutdown()
    assert ok.status_code == 204
    assert [tampered.status_code, wrong_secret.status_code, unsigned.status_code] == [400] * 3
    assert _Receiver.events == [{"type": "item.decided", "item": item.raw}]
    assert _Receiver.rejected == ["bad_signature", "bad_signature", "missing_signature"]


def test_verify_webhook_rejects_stale_and_malformed(api):
    body = b'{"type": "item.decided"}'
    old = sign("s", body, int(time.time()) - 1000)
    with pytest.raises(WebhookVerificationError) as stale:
        verify_webhook({"X-Review-Signature": old}, body, "s")
    assert stale.value.code == "stale_signature"
    assert verify_webhook({"x-review-signature": old}, body, "s", tolerance=2000) == {
        "type": "item.decided"}
    with pytest.raises(WebhookVerificationError) as malformed:
        verify_webhook({"X-Review-Signature": "nonsense"}, body, "s")
    assert malformed.value.code == "malformed_signature"
    fresh = sign("s", body)
    assert api.verify_webhook({"X-Review-Signature": fresh}, body.decode(), "s") == {
        "type": "item.decided"}
