"""The sweeper: finds work whose RQ job vanished and enqueues it again.

The database is the source of truth and Redis only a delivery mechanism, so
jobs can be lost (Redis down at ingest, flushed, a worker killed mid-job)
without losing work: every sweep looks at what the database says is waiting
and re-enqueues what has no live job. Job ids are deterministic
(`<prefix>-check-<item>`, `<prefix>-webhook-<delivery>-<attempt>`) so the
lookup is one Redis read and a re-enqueue replaces rather than duplicates.
The jobs themselves are idempotent, so a sweep racing another sweep, or a job
that was merely slow, costs at most a wasted run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from review.core.clock import utcnow
from review.core.jobs import get_redis
from review.core.models import Item, Queue, WebhookDelivery
from review.core.settings import settings
from review.intake.secondary_check import check_job_id, check_job_timeout, enqueue_check
from review.webhooks.delivery import delivery_job_id, enqueue_attempt

log = logging.getLogger(__name__)

BATCH = 500
# A queued check waiting this many stale periods is presumed lost from its
# queue list (a worker died between popping and starting it).
QUEUED_TOO_LONG_FACTOR = 10


@dataclass
class SweepReport:
    checks_requeued: list[str] = field(default_factory=list)
    deliveries_requeued: list[int] = field(default_factory=list)
    redis_error: str | None = None


def sweep(session: Session, now: datetime | None = None) -> SweepReport:
    """Re-enqueue stale checks and due webhook deliveries; safe to run anywhere, any time."""
    now = now or utcnow()
    report = SweepReport()
    try:
        report.checks_requeued = requeue_stale_checks(session, now)
        report.deliveries_requeued = requeue_due_deliveries(session, now)
    except (RedisError, OSError) as exc:
        # Nothing can be enqueued; the work stays in the database for the next sweep.
        session.rollback()
        report.redis_error = f"{type(exc).__name__}: {exc}"
        log.warning("sweep stopped, Redis unavailable: %s", exc)
    if report.checks_requeued or report.deliveries_requeued:
        log.info("sweep re-enqueued %d check(s), %d delivery(ies)",
                 len(report.checks_requeued), len(report.deliveries_requeued))
    return report


def _fetch_job(job_id: str) -> Job | None:
    try:
        return Job.fetch(job_id, connection=get_redis())
    except NoSuchJobError:
        return None


def _naive_utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def check_job_alive(item_id: str, checker: dict | None, now: datetime) -> bool:
    """Whether the item's check job is still waiting or running within its time limit."""
    job = _fetch_job(check_job_id(item_id))
    if job is None:
        return False
    status = job.get_status()
    if status in (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED):
        enqueued = _naive_utc(job.enqueued_at)
        limit = settings().CHECK_STALE_SECONDS * QUEUED_TOO_LONG_FACTOR
        return enqueued is None or enqueued > now - timedelta(seconds=limit)
    if status == JobStatus.STARTED:
        # RQ kills a job at its timeout, so one started longer ago is dead
        # (its worker was killed and could not report).
        started = _naive_utc(job.started_at)
        return started is not None and \
            started > now - timedelta(seconds=check_job_timeout(checker))
    return False


def requeue_stale_checks(session: Session, now: datetime) -> list[str]:
    stale_before = now - timedelta(seconds=settings().CHECK_STALE_SECONDS)
    rows = session.execute(
        select(Item.id, Item.check_enqueued_at, Queue.checker)
        .join(Queue, Queue.id == Item.queue_id)
        .where(Item.status == "checking",
               or_(Item.check_enqueued_at.is_(None), Item.check_enqueued_at < stale_before))
        .order_by(Item.check_enqueued_at)
        .limit(BATCH)
    ).all()
    session.rollback()
    requeued: list[str] = []
    for item_id, enqueued_at, checker in rows:
        if check_job_alive(item_id, checker, now):
            continue
        if not _claim_requeue(session, item_id, enqueued_at, now):
            continue  # decided meanwhile, or another sweeper took it
        old = _fetch_job(check_job_id(item_id))
        if old is not None:
            old.delete(remove_from_queue=True)
        if not enqueue_check(item_id, checker):
            _claim_requeue(session, item_id, now, enqueued_at)  # give it back
            raise RedisError("enqueue failed")
        requeued.append(item_id)
    return requeued


def _claim_requeue(session: Session, item_id: str, old: datetime | None,
                   new: datetime | None) -> bool:
    condition = Item.check_enqueued_at.is_(None) if old is None else \
        Item.check_enqueued_at == old
    won = session.execute(
        update(Item)
        .where(Item.id == item_id, Item.status == "checking", condition)
        .values(check_enqueued_at=new)
        .execution_options(synchronize_session=False)
    ).rowcount == 1
    session.commit()
    return won


def requeue_due_deliveries(session: Session, now: datetime) -> list[int]:
    rows = session.execute(
        select(WebhookDelivery.id, WebhookDelivery.attempts)
        .where(WebhookDelivery.status == "pending",
               or_(WebhookDelivery.next_attempt_at.is_(None),
                   WebhookDelivery.next_attempt_at <= now))
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(BATCH)
    ).all()
    session.rollback()
    requeued: list[int] = []
    for delivery_id, attempts in rows:
        job = _fetch_job(delivery_job_id(delivery_id, attempts + 1))
        if job is not None and job.get_status() in (JobStatus.QUEUED, JobStatus.STARTED):
            continue
        # A job still "scheduled" past its time means no scheduler is moving
        # it; enqueueing it directly is safe, the attempt claim stops doubles.
        if not enqueue_attempt(delivery_id, attempts + 1):
            raise RedisError("enqueue failed")
        requeued.append(delivery_id)
    return requeued
