"""Webhook deliveries end to end: a real RQ worker POSTs signed JSON to a real
receiver on 127.0.0.1; failures are retried through RQ's scheduler or the
sweeper; every attempt is logged; admins can list and re-send."""

from __future__ import annotations

import hashlib
import hmac
import random
import re
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from review.core.clock import utcnow
from review.core.models import ApiKey, WebhookAttempt, WebhookDelivery
from review.core.settings import settings
from tests.conftest import free_port


def receiver_verifies(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
    """What an upstream receiver does, written here from the README, not imported."""
    fields = dict(part.split("=", 1) for part in header.split(","))
    timestamp = int(fields["t"])
    if abs(time.time() - timestamp) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body,
                        hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields["v1"])


def submit(client, auth, **fields):
    body = {"queue": "hooks", "output": "Your order ships Monday.", "confidence": 0.95}
    body.update(fields)
    resp = client.post("/api/v1/items", json=body, headers=auth)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def delivery_of(db, item_id: str) -> WebhookDelivery:
    db.rollback()
    db.expire_all()  # the worker changed it behind this session's back
    return db.scalars(select(WebhookDelivery).where(WebhookDelivery.item_id == item_id)).one()


def attempts_of(db, delivery_id: int) -> list[WebhookAttempt]:
    db.rollback()
    return list(db.scalars(select(WebhookAttempt).where(
        WebhookAttempt.delivery_id == delivery_id).order_by(WebhookAttempt.id)))


def key_secret(db, name: str = "upstream") -> str:
    db.rollback()
    return db.scalars(select(ApiKey).where(ApiKey.name == name)
                      .order_by(ApiKey.id.desc())).first().webhook_secret


@pytest.fixture(autouse=True)
def hooks_queue(make_queue):
    return make_queue("hooks", audit_rate=0.0)


def test_decision_is_posted_signed_with_the_submitters_secret(client, auth, db, http_receiver,
                                                              rq_worker):
    receiver = http_receiver()
    item = submit(client, auth, callback_url=receiver.url)
    assert item["status"] == "approved"

    rq_worker()

    [request] = receiver.requests
    secret = key_secret(db)
    assert receiver_verifies(secret, request.headers["X-Review-Signature"], request.body)
    assert not receiver_verifies(secret, request.headers["X-Review-Signature"],
                                 request.body + b" ")
    assert not receiver_verifies("whsec_wrong", request.headers["X-Review-Signature"],
                                 request.body)
    assert request.headers["X-Review-Event-Id"] == f"evt_{item['id']}_decided"
    assert request.headers["X-Review-Signer"] == "key:upstream"
    body = request.json()
    assert body["type"] == "item.decided"
    assert body["item"]["id"] == item["id"]
    assert body["item"]["decision"]["outcome"] == "approve"
    delivery = delivery_of(db, item["id"])
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == \
        ("delivered", 1, 200)
    assert delivery.delivered_at is not None and delivery.next_attempt_at is None
    [attempt] = attempts_of(db, delivery.id)
    assert attempt.status_code == 200 and attempt.error is None
    assert attempt.latency_ms is not None


def test_a_checker_decision_reaches_the_queue_webhook(client, auth, db, make_queue,
                                                      http_receiver, rq_worker):
    """The whole path: ingest → check job → checker pass → decision → webhook job."""
    judge = http_receiver(lambda _r: (200, {"verdict": "pass", "score": 0.8}))
    hook = http_receiver()
    make_queue("hooks", audit_rate=0.0, webhook_url=hook.url,
               checker={"type": "http", "url": judge.url, "timeout": 2, "retries": 0})
    item = submit(client, auth, confidence=0.75)
    assert item["status"] == "checking"

    rq_worker()

    [request] = hook.requests
    assert request.json()["item"]["decision"]["decided_by"] == "checker"
    assert receiver_verifies(key_secret(db), request.headers["X-Review-Signature"],
                             request.body)


def test_receiver_down_then_up_is_retried_through_rqs_scheduler(
        app, client, auth, db, http_receiver, rq_worker, monkeypatch):
    monkeypatch.setattr(settings(app), "WEBHOOK_RETRY_BASE", 0.5)
    port = free_port()  # nothing listens here yet: the receiver is down
    item = submit(client, auth, callback_url=f"http://127.0.0.1:{port}/hook")

    rq_worker()

    delivery = delivery_of(db, item["id"])
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert delivery.last_status_code is None and "ConnectionError" in delivery.last_error
    [failed] = attempts_of(db, delivery.id)
    assert failed.status_code is None and "ConnectionError" in failed.error
    # The retry waits in RQ's scheduled registry, between half and all of the base delay.
    from review.core.jobs import WEBHOOKS, rq_queue
    from review.webhooks.delivery import delivery_job_id

    with app.app_context():
        scheduled = rq_queue(WEBHOOKS).scheduled_job_registry.get_job_ids()
        assert delivery_job_id(delivery.id, 2) in scheduled
    delay = (delivery.next_attempt_at - failed.at).total_seconds()
    assert 0.25 <= delay <= 0.5

    receiver = http_receiver(port=port)  # the receiver comes back
    while utcnow() < delivery.next_attempt_at:
        time.sleep(0.05)
    rq_worker()  # RQ's scheduler moves the due retry to the queue

    [request] = receiver.requests
    assert request.headers["X-Review-Attempt"] == "2"
    delivery = delivery_of(db, item["id"])
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("delivered", 2, None)
    assert [a.status_code for a in attempts_of(db, delivery.id)] == [None, 200]


def test_sweeper_re_enqueues_a_due_retry_whose_job_was_lost(app, client, auth, db,
                                                            http_receiver, rq_worker,
                                                            monkeypatch):
    from rq.job import Job

    from review.core.db import get_session
    from review.core.jobs import get_redis
    from review.ops.sweeper import sweep
    from review.webhooks.delivery import delivery_job_id

    # A retry 2-4 s out: long enough that "not due yet" holds on a loaded machine.
    monkeypatch.setattr(settings(app), "WEBHOOK_RETRY_BASE", 4.0)
    receiver = http_receiver(lambda _r: (503, {}))
    item = submit(client, auth, callback_url=receiver.url)
    rq_worker()
    delivery = delivery_of(db, item["id"])
    assert (delivery.status, delivery.last_status_code) == ("pending", 503)
    with app.app_context():
        # Redis lost the scheduled retry (flushed, failed over).
        Job.fetch(delivery_job_id(delivery.id, 2), connection=get_redis()).delete()
        assert sweep(get_session()).deliveries_requeued == []  # not due yet
        while utcnow() < delivery.next_attempt_at:
            time.sleep(0.05)
        assert sweep(get_session()).deliveries_requeued == [delivery.id]
        assert sweep(get_session()).deliveries_requeued == []  # its job is queued
    receiver.respond = lambda _r: (204, "")
    rq_worker()
    delivery = delivery_of(db, item["id"])
    assert (delivery.status, delivery.attempts) == ("delivered", 2)
    assert [a.status_code for a in attempts_of(db, delivery.id)] == [503, 204]


def test_gives_up_after_the_retry_window(app, client, auth, db, http_receiver, rq_worker):
    receiver = http_receiver(lambda _r: (500, {}))
    item = submit(client, auth, callback_url=receiver.url)
    delivery = delivery_of(db, item["id"])
    delivery.created_at = utcnow() - timedelta(seconds=settings(app).WEBHOOK_RETRY_WINDOW + 1)
    db.commit()
    rq_worker()
    delivery = delivery_of(db, item["id"])
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 1, None)
    assert delivery.last_error == "HTTP 500"


def test_ssrf_guard_refuses_private_targets_at_delivery_time(app, client, auth, db, make_queue,
                                                             http_receiver, rq_worker,
                                                             monkeypatch):
    receiver = http_receiver()
    make_queue("hooks", audit_rate=0.0, webhook_url=receiver.url)
    item = submit(client, auth)
    monkeypatch.setattr(settings(app), "ALLOWED_CALLBACK_HOSTS", [])  # loopback not allowed
    rq_worker()
    assert receiver.requests == []
    delivery = delivery_of(db, item["id"])
    assert delivery.status == "failed"  # a private address stays private: no retries
    assert delivery.last_error.startswith("refused:")
    assert "127.0.0.1" in delivery.last_error
    [attempt] = attempts_of(db, delivery.id)
    assert attempt.error.startswith("refused:")


def test_redirects_are_not_followed(client, auth, db, http_receiver, rq_worker):
    elsewhere = http_receiver()
    receiver = http_receiver(lambda _r: (302, ""))
    item = submit(client, auth, callback_url=receiver.url)
    rq_worker()
    assert elsewhere.requests == []
    delivery = delivery_of(db, item["id"])
    assert (delivery.status, delivery.last_status_code) == ("pending", 302)


def test_signing_secret_is_the_newest_live_key_then_the_instance_secret(
        app, client, auth, db, make_key, http_receiver, rq_worker, monkeypatch):
    receiver = http_receiver()
    make_key("upstream", "submit")  # a rotated key with the same owner name
    newest = key_secret(db)
    submit(client, auth, callback_url=receiver.url)
    rq_worker()
    assert receiver_verifies(newest, receiver.requests[0].headers["X-Review-Signature"],
                             receiver.requests[0].body)

    # A submitter whose keys are all revoked by the time its webhook goes out.
    gone = {"Authorization": f"Bearer {make_key('gone', 'submit')}"}
    submit(client, gone, callback_url=receiver.url)
    db.rollback()
    for key in db.scalars(select(ApiKey).where(ApiKey.name == "gone")):
        key.revoked_at = utcnow()
    db.commit()
    monkeypatch.setattr(settings(app), "WEBHOOK_SECRET", "whsec_instance")
    rq_worker()
    request = receiver.requests[1]
    assert request.headers["X-Review-Signer"] == "instance"
    assert receiver_verifies("whsec_instance", request.headers["X-Review-Signature"],
                             request.body)


def test_an_attempt_is_sent_once_even_when_two_jobs_race(app, client, auth, db, http_receiver):
    from review.core.db import get_session
    from review.webhooks.delivery import deliver

    release = threading.Event()

    def slow(_request):
        release.wait(30)
        return 200, {}

    receiver = http_receiver(slow)
    item = submit(client, auth, callback_url=receiver.url)
    delivery_id = delivery_of(db, item["id"]).id
    outcomes: list[str] = []

    def first() -> None:
        with app.app_context():
            outcomes.append(deliver(get_session(), delivery_id))

    thread = threading.Thread(target=first)
    thread.start()
    receiver.wait_for(1)
    with app.app_context():
        assert deliver(get_session(), delivery_id) == "not_due"  # the attempt is claimed
    release.set()
    thread.join(30)
    assert outcomes == ["delivered"]
    assert len(receiver.requests) == 1
    with app.app_context():
        assert deliver(get_session(), delivery_id) == "skipped"


def test_retry_delay_doubles_with_jitter_and_a_cap(app):
    from review.webhooks.delivery import retry_delay

    rng = random.Random(7)
    with app.app_context():
        base = settings(app).WEBHOOK_RETRY_BASE
        cap = settings(app).WEBHOOK_RETRY_MAX_DELAY
        for attempt in range(1, 30):
            ceiling = min(base * 2 ** (attempt - 1), cap)
            delays = {retry_delay(attempt, rng) for _ in range(20)}
            assert all(ceiling / 2 <= d <= ceiling for d in delays)
            assert len(delays) > 1  # jittered


# --- Admin API and page ---


def test_admin_api_lists_shows_attempts_and_resends(app, client, auth, db, make_key,
                                                    http_receiver, rq_worker):
    receiver = http_receiver()
    admin = {"Authorization": f"Bearer {make_key('ops', 'admin')}"}
    item = submit(client, auth, callback_url=receiver.url)
    other = submit(client, auth, callback_url=receiver.url, output="Another answer.")
    rq_worker()

    listed = client.get("/api/v1/webhooks/deliveries?status=delivered", headers=admin)
    assert listed.status_code == 200
    assert {d["item_id"] for d in listed.get_json()["deliveries"]} == {item["id"], other["id"]}
    only = client.get(f"/api/v1/webhooks/deliveries?item_id={item['id']}", headers=admin)
    [row] = only.get_json()["deliveries"]
    assert client.get("/api/v1/webhooks/deliveries?status=failed",
                      headers=admin).get_json()["deliveries"] == []
    assert client.get("/api/v1/webhooks/deliveries?status=bogus",
                      headers=admin).status_code == 400

    detail = client.get(f"/api/v1/webhooks/deliveries/{row['id']}", headers=admin).get_json()
    assert detail["payload"]["item"]["id"] == item["id"]
    assert [a["status_code"] for a in detail["attempt_log"]] == [200]

    resent = client.post(f"/api/v1/webhooks/deliveries/{row['id']}/resend", headers=admin)
    assert resent.status_code == 202 and resent.get_json()["status"] == "pending"
    rq_worker()
    detail = client.get(f"/api/v1/webhooks/deliveries/{row['id']}", headers=admin).get_json()
    assert detail["status"] == "delivered" and detail["attempts"] == 2
    assert len(receiver.requests) == 3
    assert receiver.requests[-1].headers["X-Review-Event-Id"] == f"evt_{item['id']}_decided"

    assert client.get("/api/v1/webhooks/deliveries", headers=auth).status_code == 403
    assert client.post(f"/api/v1/webhooks/deliveries/{row['id']}/resend",
                       headers=auth).status_code == 403
    missing = client.get("/api/v1/webhooks/deliveries/999999", headers=admin)
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"


def _login(client, name: str, password: str = "correct horse") -> None:
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    resp = client.post("/login", data={"name": name, "password": password,
                                       "csrf_token": token})
    assert resp.status_code == 302


def test_admin_page_lists_deliveries_and_resends_with_csrf(app, client, auth, make_user,
                                                           http_receiver, rq_worker):
    # No `db` fixture here: its app context would share `g` (and Flask-WTF's
    # cached CSRF token) across the browser's requests.
    from review.core.db import get_session

    def delivery() -> WebhookDelivery:
        with app.app_context():
            return get_session().scalars(select(WebhookDelivery)).one()

    receiver = http_receiver(lambda _r: (500, {}))
    submit(client, auth, callback_url=receiver.url)
    rq_worker()
    make_user("root", "admin")
    browser = app.test_client()
    _login(browser, "root")

    page = browser.get("/admin/webhooks/?status=pending")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    delivery_id = delivery().id
    assert f'data-delivery="{delivery_id}"' in html and "HTTP 500" in html
    action = f"/admin/webhooks/{delivery_id}/resend"
    assert browser.post(action).status_code == 400  # no CSRF token
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    receiver.respond = lambda _r: (200, {})
    resp = browser.post(action, data={"csrf_token": token})
    assert resp.status_code == 302
    rq_worker()
    assert delivery().status == "delivered"


def test_admin_page_is_for_admins_only(app, make_user):
    make_user("ann", "reviewer")
    browser = app.test_client()
    assert browser.get("/admin/webhooks/").status_code == 302  # to the login page
    _login(browser, "ann")
    assert browser.get("/admin/webhooks/").status_code == 403
