"""Sending webhook deliveries: signed POSTs, SSRF guard, attempt log, retries.

A delivery row (review/webhooks/outbox.py writes it with the decision) says what to
send; this module sends it once per attempt. An attempt is claimed with a
conditional UPDATE on the attempt counter before the POST, so a duplicate job
(the sweeper and RQ's scheduler racing, a manual resend) never sends the same
attempt twice. Failures are retried with exponential backoff and jitter
(WEBHOOK_RETRY_BASE × 2^(n-1), capped at WEBHOOK_RETRY_MAX_DELAY) until
WEBHOOK_RETRY_WINDOW after the delivery was created; then it is `failed`.

The outcome of an attempt is written only while that attempt still owns the
delivery (no later attempt claimed it, no resend came in meanwhile), so a slow
attempt cannot undo what a later one did. A URL the SSRF guard refuses fails at
once; a host name that does not resolve is retried like any other failure (DNS
failures pass), labelled `unresolved:`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from redis.exceptions import RedisError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from review.core.clock import isoformat, utcnow
from review.core.db import after_commit
from review.core.errors import BadArgument, NotFound
from review.core.jobs import WEBHOOKS, enqueue, rq_queue
from review.core.logs import job_meta, outgoing_headers
from review.core.models import ApiKey, WebhookAttempt, WebhookDelivery
from review.core.netguard import UnsafeUrl, guarded_session
from review.core.settings import settings
from review.core.tracing import inject_job_meta, link_item, span
from review.webhooks.signing import EVENT_HEADER, SIGNATURE_HEADER, sign

log = logging.getLogger(__name__)

SIGNER_HEADER = "X-Review-Signer"
DELIVERY_STATUSES = ("pending", "delivered", "failed")
# Deliveries to ALERT_WEBHOOK_URL: the operator configured that URL in the
# environment, so it is trusted like the rest of the configuration.
TRUSTED_KINDS_PREFIX = "alert."
ERROR_CHARS = 500
# RQ's scheduler stores a job's time in whole seconds, rounded down, and moves due
# jobs once a second, so a retry can start up to 1 s before its time; hosts' clocks
# differ a little more. A job that early waits for its time instead of answering
# not_due, which left the retry to the next sweep (up to SWEEP_INTERVAL late).
EARLY_START_WAIT = 2.0


@dataclass(frozen=True)
class AttemptResult:
    status_code: int | None
    latency_ms: float
    error: str | None
    permanent: bool = False

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def delivery_job_id(delivery_id: int, attempt: int) -> str:
    """One job id per attempt: re-enqueueing the same attempt replaces, never duplicates."""
    return f"{settings().REDIS_PREFIX}-webhook-{delivery_id}-{attempt}"


def enqueue_attempt(delivery_id: int, attempt: int, at: datetime | None = None) -> bool:
    """Enqueue attempt number `attempt` now, or at `at` (naive UTC) via RQ's scheduler."""
    job_id = delivery_job_id(delivery_id, attempt)
    func = "workers.webhooks.deliver"
    timeout = int(settings().WEBHOOK_TIMEOUT) + 30
    if at is None or at <= utcnow():
        return enqueue(WEBHOOKS, func, delivery_id, job_id=job_id, job_timeout=timeout,
                       result_ttl=3600, failure_ttl=86400)
    try:
        rq_queue(WEBHOOKS).enqueue_at(at.replace(tzinfo=UTC), func, delivery_id, job_id=job_id,
                                      job_timeout=timeout, result_ttl=3600, failure_ttl=86400,
                                      meta=inject_job_meta(job_meta()))
        return True
    except (RedisError, OSError) as exc:
        log.warning("scheduling webhook delivery %s failed (%s); the sweeper will retry",
                    delivery_id, exc)
        return False


def retry_delay(attempt: int, rng: random.Random | None = None) -> float:
    """Seconds before the attempt after failed attempt number `attempt` (1-based).

    Exponential with "equal jitter": between half and all of base × 2^(n-1),
    so receivers recovering from an outage are not hit by every sender at once.
    """
    cfg = settings()
    ceiling = min(float(cfg.WEBHOOK_RETRY_BASE) * 2 ** max(attempt - 1, 0),
                  float(cfg.WEBHOOK_RETRY_MAX_DELAY))
    return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)


def instance_webhook_secret() -> str:
    """WEBHOOK_SECRET, or a secret derived from SECRET_KEY when that is unset."""
    cfg = settings()
    if cfg.WEBHOOK_SECRET:
        return cfg.WEBHOOK_SECRET
    mac = hmac.new(cfg.SECRET_KEY.encode(), b"review-webhook-secret", hashlib.sha256)
    return "whsec_" + mac.hexdigest()


def signing_secret(session: Session, delivery: WebhookDelivery) -> tuple[str, str]:
    """(secret, signer): the newest live key of the submitter, else the instance secret."""
    if delivery.secret_key_name:
        key = session.scalar(
            select(ApiKey)
            .where(ApiKey.name == delivery.secret_key_name, ApiKey.revoked_at.is_(None))
            .order_by(ApiKey.created_at.desc(), ApiKey.id.desc())
            .limit(1)
        )
        if key is not None:
            return key.webhook_secret, f"key:{key.name}"
    return instance_webhook_secret(), "instance"


@span("review.webhook.deliver")
def deliver(session: Session, delivery_id: int) -> str:
    """Make one attempt of a pending delivery; return what happened."""
    waits = 0
    while True:
        now = utcnow()
        delivery = session.get(WebhookDelivery, delivery_id, populate_existing=True)
        if delivery is None or delivery.status != "pending":
            session.rollback()
            return "skipped"
        early = 0.0 if delivery.next_attempt_at is None else \
            (delivery.next_attempt_at - now).total_seconds()
        if early <= 0:
            break
        session.rollback()  # no transaction stays open while waiting
        # Far off: claimed by a running attempt, or truly not due. Still early after two
        # waits: the wall clock was stepped back; the sweeper will find it.
        if early > EARLY_START_WAIT or waits == 2:
            return "not_due"
        time.sleep(early)
        waits += 1  # then read it again: a resend or another job may have moved it
    attempt = delivery.attempts + 1
    claim_until = now + timedelta(seconds=float(settings().WEBHOOK_TIMEOUT) + 60)
    claimed = session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.status == "pending",
               WebhookDelivery.attempts == delivery.attempts)
        .values(attempts=attempt, next_attempt_at=claim_until)
        .execution_options(synchronize_session=False)
    ).rowcount == 1
    session.commit()
    if not claimed:
        return "skipped"
    delivery = session.get(WebhookDelivery, delivery_id, populate_existing=True)
    link_item(session, delivery.item_id)  # the item's ingest trace
    secret, signer = signing_secret(session, delivery)
    body = json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "review-webhooks/1",
        SIGNATURE_HEADER: sign(secret, body),
        SIGNER_HEADER: signer,
        EVENT_HEADER: delivery.event_id,
        "X-Review-Event": delivery.kind,
        "X-Review-Attempt": str(attempt),
        **outgoing_headers(),  # X-Request-Id of the request (or job) behind this decision
    }
    url, trusted = delivery.url, delivery.kind.startswith(TRUSTED_KINDS_PREFIX)
    session.rollback()  # no transaction stays open during the POST
    result = post_delivery(url, body, headers, trusted=trusted)
    return record_attempt(session, delivery_id, attempt, result, claimed_until=claim_until)


def post_delivery(url: str, body: bytes, headers: dict[str, str], *, trusted: bool = False
                  ) -> AttemptResult:
    """One POST. The SSRF guard runs here, resolving DNS, right before sending, and the
    POST goes to the address it checked (no second lookup a DNS server could answer
    differently)."""
    if trusted:
        session = requests.Session()
    else:
        try:
            session = guarded_session(url, settings().ALLOWED_CALLBACK_HOSTS)
        except UnsafeUrl as exc:
            # A name that does not resolve may resolve later (DNS failures pass): retried.
            # A private address stays private: failed at once. The guard says which by
            # the lookup error it wraps; its wording is the fallback.
            if isinstance(exc.__cause__, OSError | UnicodeError) or \
                    str(exc).startswith("cannot resolve"):
                return AttemptResult(None, 0.0, f"unresolved: {exc}"[:ERROR_CHARS])
            return AttemptResult(None, 0.0, f"refused: {exc}"[:ERROR_CHARS], permanent=True)
    started = time.perf_counter()
    try:
        # Redirects are not followed: they could lead past the SSRF guard.
        with session, session.post(url, data=body, headers=headers, allow_redirects=False,
                                   stream=True, timeout=float(settings().WEBHOOK_TIMEOUT)
                                   ) as response:
            status = response.status_code
    except requests.RequestException as exc:
        latency = (time.perf_counter() - started) * 1000
        return AttemptResult(None, latency, f"{type(exc).__name__}: {exc}"[:ERROR_CHARS])
    latency = (time.perf_counter() - started) * 1000
    error = None if 200 <= status < 300 else f"HTTP {status}"
    return AttemptResult(status, latency, error)


def record_attempt(session: Session, delivery_id: int, attempt: int, result: AttemptResult,
                   *, claimed_until: datetime | None = None) -> str:
    """Log the attempt and move the delivery on: delivered, retry later, or failed.

    The move is conditional on the attempt still owning the delivery: still pending,
    no later attempt claimed, and (given `claimed_until`, the next_attempt_at its claim
    wrote) no resend since. Otherwise the attempt is only logged: "superseded".
    """
    now = utcnow()
    session.add(WebhookAttempt(delivery_id=delivery_id, at=now, status_code=result.status_code,
                               latency_ms=round(result.latency_ms, 2), error=result.error))
    created_at = session.scalar(
        select(WebhookDelivery.created_at).where(WebhookDelivery.id == delivery_id))
    window = timedelta(seconds=int(settings().WEBHOOK_RETRY_WINDOW))
    values: dict[str, Any] = {"last_status_code": result.status_code,
                              "last_error": result.error}
    retry_at = None
    if result.ok:
        values.update(status="delivered", delivered_at=now, next_attempt_at=None)
        outcome = "delivered"
    elif result.permanent or created_at is None or now >= created_at + window:
        values.update(status="failed", next_attempt_at=None)
        outcome = "failed"
    else:
        retry_at = now + timedelta(seconds=retry_delay(attempt))
        values.update(next_attempt_at=retry_at)
        outcome = "retrying"
    owns = [WebhookDelivery.id == delivery_id, WebhookDelivery.status == "pending",
            WebhookDelivery.attempts == attempt]
    if claimed_until is not None:
        owns.append(WebhookDelivery.next_attempt_at == claimed_until)
    owned = session.execute(
        update(WebhookDelivery).where(*owns).values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount == 1
    if not owned:
        outcome = "superseded"
    elif retry_at is not None:
        after_commit(session, enqueue_attempt, delivery_id, attempt + 1, retry_at)
    session.commit()
    log.info("webhook delivery %s attempt %s: %s (%s)", delivery_id, attempt, outcome,
             result.error or result.status_code)
    return outcome


def resend(session: Session, delivery_id: int) -> WebhookDelivery:
    """Send a delivery again now, whatever its status (admins, by hand).

    Past the retry window a resend gets one attempt: a failure marks it
    failed again rather than starting a new day of retries.
    """
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None:
        raise NotFound("not_found", f"No webhook delivery {delivery_id}.")
    delivery.status = "pending"
    delivery.next_attempt_at = utcnow()
    after_commit(session, enqueue_attempt, delivery.id, delivery.attempts + 1, None)
    session.commit()
    return delivery


def list_deliveries(session: Session, *, status: str | None = None, item_id: str | None = None,
                    before: int | None = None, limit: int = 50) -> list[WebhookDelivery]:
    """Newest first; `before` (an id) pages further back."""
    if status is not None and status not in DELIVERY_STATUSES:
        raise BadArgument("bad_status", f"status must be one of {', '.join(DELIVERY_STATUSES)}.")
    query = select(WebhookDelivery)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    if item_id is not None:
        query = query.where(WebhookDelivery.item_id == item_id)
    if before is not None:
        query = query.where(WebhookDelivery.id < before)
    return list(session.scalars(query.order_by(WebhookDelivery.id.desc()).limit(limit)))


def get_delivery(session: Session, delivery_id: int) -> WebhookDelivery:
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None:
        raise NotFound("not_found", f"No webhook delivery {delivery_id}.")
    return delivery


def delivery_attempts(session: Session, delivery_id: int) -> list[WebhookAttempt]:
    return list(session.scalars(select(WebhookAttempt).where(
        WebhookAttempt.delivery_id == delivery_id).order_by(WebhookAttempt.id)))


def delivery_to_dict(delivery: WebhookDelivery,
                     attempts: list[WebhookAttempt] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": delivery.id,
        "event_id": delivery.event_id,
        "kind": delivery.kind,
        "item_id": delivery.item_id,
        "url": delivery.url,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "next_attempt_at": isoformat(delivery.next_attempt_at),
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "created_at": isoformat(delivery.created_at),
        "delivered_at": isoformat(delivery.delivered_at),
    }
    if attempts is not None:
        body["payload"] = delivery.payload
        body["attempt_log"] = [
            {"at": isoformat(a.at), "status_code": a.status_code, "latency_ms": a.latency_ms,
             "error": a.error} for a in attempts]
    return body
