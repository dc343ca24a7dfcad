"""An attempt writes its outcome only while it still owns the delivery.

A slow attempt that fails after the retry window used to overwrite what happened
meanwhile: `delivered` by a manual resend became `failed` (issue 13). Here the
interleaving is made for real: the first attempt runs in a thread and its POST
hangs in a real receiver on 127.0.0.1 while an admin resends through the API and
a real RQ worker sends the resend; then the first attempt's POST fails.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from review.core.clock import utcnow
from review.core.settings import settings
from tests.webhooks.test_webhooks import attempts_of, delivery_of, submit


@pytest.fixture(autouse=True)
def hooks_queue(make_queue):
    return make_queue("hooks", audit_rate=0.0)


class SlowFirstAttempt:
    """Answers attempt 1 with a 500 once released; every later attempt with a 200."""

    def __init__(self, http_receiver) -> None:
        self.release = threading.Event()
        self.receiver = http_receiver(self.respond)

    def respond(self, request):
        if request.headers["X-Review-Attempt"] == "1":
            self.release.wait(30)
            return 500, {}
        return 200, {}


def start_first_attempt(app, delivery_id: int) -> tuple[threading.Thread, list[str]]:
    """Attempt 1, as a worker's job would make it, in a thread; returns its outcome."""
    from review.core.db import get_session
    from review.webhooks.delivery import deliver

    outcomes: list[str] = []

    def run() -> None:
        with app.app_context():
            outcomes.append(deliver(get_session(), delivery_id))

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcomes


def past_the_window(app, db, item_id: str) -> int:
    delivery = delivery_of(db, item_id)
    delivery.created_at = utcnow() - timedelta(seconds=settings(app).WEBHOOK_RETRY_WINDOW + 1)
    db.commit()
    return delivery.id


def test_a_slow_failure_does_not_undo_a_resend_that_was_delivered(
        app, client, auth, db, make_key, http_receiver, rq_worker):
    admin = {"Authorization": f"Bearer {make_key('ops', 'admin')}"}
    hook = SlowFirstAttempt(http_receiver)
    item = submit(client, auth, callback_url=hook.receiver.url)
    delivery_id = past_the_window(app, db, item["id"])
    first, outcomes = start_first_attempt(app, delivery_id)
    hook.receiver.wait_for(1)  # attempt 1 is claimed and its POST hangs

    resent = client.post(f"/api/v1/webhooks/deliveries/{delivery_id}/resend", headers=admin)
    assert resent.status_code == 202
    rq_worker()  # the resend: attempt 2, answered 200
    delivery = delivery_of(db, item["id"])
    assert (delivery.status, delivery.attempts) == ("delivered", 2)

    hook.release.set()  # attempt 1 fails now, past the retry window
    first.join(30)
    assert outcomes == ["superseded"]
    delivery = delivery_of(db, item["id"])
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == \
        ("delivered", 2, 200)
    assert delivery.last_error is None and delivery.delivered_at is not None
    # Both attempts happened and both are in the log.
    assert sorted(a.status_code for a in attempts_of(db, delivery_id)) == [200, 500]


def test_a_slow_failure_does_not_cancel_a_resend_still_waiting(
        app, client, auth, db, make_key, http_receiver, rq_worker):
    admin = {"Authorization": f"Bearer {make_key('ops', 'admin')}"}
    hook = SlowFirstAttempt(http_receiver)
    item = submit(client, auth, callback_url=hook.receiver.url)
    delivery_id = past_the_window(app, db, item["id"])
    first, outcomes = start_first_attempt(app, delivery_id)
    hook.receiver.wait_for(1)

    resent = client.post(f"/api/v1/webhooks/deliveries/{delivery_id}/resend", headers=admin)
    assert resent.status_code == 202
    hook.release.set()  # attempt 1 fails before the resend's job has run
    first.join(30)
    assert outcomes == ["superseded"]
    delivery = delivery_of(db, item["id"])
    assert (delivery.status, delivery.attempts) == ("pending", 1)

    rq_worker()  # the resend still goes out
    delivery = delivery_of(db, item["id"])
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == \
        ("delivered", 2, 200)
    assert [r.headers["X-Review-Attempt"] for r in hook.receiver.requests] == ["1", "2"]
