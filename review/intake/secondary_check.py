"""The secondary automated check of an item the router sent to `checking`.

The database is the source of truth: the RQ job only carries an item id, and
`run_item_check` acts only on an item still in `checking`, writing its result
with a conditional UPDATE on the item's version. A second run, a concurrent
run, or a run after a worker was killed mid-check therefore decides nothing
twice. Any check problem (unsure, error, timeout, malformed answer, a worker
that keeps dying) sends the item to a human: a check never auto-approves by
accident.
"""

from __future__ import annotations

import hashlib
import logging
import time
from datetime import timedelta
from typing import Any, Literal

from redis.exceptions import RedisError
from sqlalchemy import update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from review.core.clock import utcnow
from review.core.events import record_event
from review.core.jobs import CHECKS, enqueue, get_redis
from review.core.models import Item
from review.core.settings import settings
from review.core.tracing import span
from review.human.decisions import record_decision
from review.intake.checks import CheckInput, CheckResult, run_checker
from review.intake.checks.base import usage_columns
from review.intake.routing import AUDIT_PRIORITY_BOOST, CHECK_FAIL_PRIORITY_BOOST, audit_sampled

log = logging.getLogger(__name__)

CheckOutcome = Literal["approved", "pending", "skipped"]
REASON_IN_ROUTE_CHARS = 300


def check_job_id(item_id: str) -> str:
    """Deterministic, so a re-enqueue replaces the job and the sweeper can look it up.

    RQ job ids are global to the Redis server, hence the instance prefix.
    """
    return f"{settings().REDIS_PREFIX}-check-{item_id}"


def checker_config(queue_checker: dict[str, Any] | None) -> dict[str, Any] | None:
    """The queue's checker config with the instance defaults for the http checker."""
    if not queue_checker:
        return None
    config = dict(queue_checker)
    if config.get("type") == "http":
        config.setdefault("timeout", float(settings().CHECK_TIMEOUT))
        config.setdefault("retries", int(settings().CHECK_RETRIES))
    return config


def check_job_timeout(queue_checker: dict[str, Any] | None = None) -> int:
    """Seconds RQ lets one check run: every http attempt and backoff, plus slack.

    The sweeper treats a job started longer ago than this as dead.
    """
    return int(_worst_case_seconds(queue_checker or {}) + 15)


def _worst_case_seconds(config: dict[str, Any]) -> float:
    fallback = config.get("fallback")
    if isinstance(fallback, dict):  # the primary, then its fallback
        rest = {k: v for k, v in config.items() if k != "fallback"}
        return _worst_case_seconds(rest) + _worst_case_seconds(fallback)
    if config.get("type") == "all":
        parts = config.get("checks") if isinstance(config.get("checks"), list) else []
        return sum(_worst_case_seconds(p) for p in parts if isinstance(p, dict))
    if config.get("type") == "llm":  # two attempts around one Retry-After wait
        timeout = config.get("timeout", 20.0)
        timeout = float(timeout) if isinstance(timeout, int | float) else 20.0
        return 2 * timeout + 5.0
    if config.get("type") != "http":
        return 1.0
    cfg = settings()
    try:
        timeout = float(config.get("timeout", cfg.CHECK_TIMEOUT))
        retries = int(config.get("retries", cfg.CHECK_RETRIES))
    except (TypeError, ValueError):
        return float(cfg.CHECK_TIMEOUT)  # the checker will reject the config anyway
    return timeout * (retries + 1) + 2.0 * retries  # attempts plus capped backoff


def enqueue_check(item_id: str, queue_checker: dict[str, Any] | None = None) -> bool:
    """Best-effort enqueue of the check job; False (logged) when Redis is unavailable."""
    return enqueue(CHECKS, "workers.checks.run_check", item_id, job_id=check_job_id(item_id),
                   job_timeout=check_job_timeout(queue_checker), result_ttl=3600,
                   failure_ttl=86400)


def check_input_for(item: Item) -> CheckInput:
    queue = item.queue
    model = None
    if item.model_name is not None or item.model_version is not None:
        model = {"name": item.model_name, "version": item.model_version}
    return CheckInput(
        item_id=item.id,
        output=item.output,
        input=item.input,
        context=list(item.context or []),
        confidence=item.confidence,
        model=model,
        metadata=dict(item.meta or {}),
        output_schema=queue.output_schema,
        blocked_phrases=list(queue.blocked_phrases or []),
        max_output_chars=queue.max_output_chars,
    )


@span("review.check")
def run_item_check(session: Session, item_id: str) -> CheckOutcome:
    """Check one item and apply the result; "skipped" if it is no longer in `checking`."""
    item = session.get(Item, item_id)
    if item is None or item.status != "checking":
        session.rollback()
        return "skipped"
    attempt = _start_attempt(session, item_id)
    if attempt is None:
        return "skipped"
    max_attempts = int(settings().MAX_CHECK_ATTEMPTS)
    item = session.get(Item, item_id, populate_existing=True)
    if item is None or item.status != "checking":
        session.rollback()
        return "skipped"
    config = checker_config(item.queue.checker)
    if attempt > max_attempts:
        # Earlier attempts never finished (the worker died or the job timed
        # out each time): stop trying and let a human look.
        result = CheckResult(_checker_name(config), "error", None,
                             f"the check did not finish in {max_attempts} attempts")
    elif config is None:
        result = CheckResult("none", "error", None, "the queue has no checker any more")
    else:
        check_input = check_input_for(item)
        # No transaction stays open while a remote checker thinks.
        session.rollback()
        result = _safe_run(config, check_input)
    return apply_check_result(session, item_id, result, attempt)


def _checker_name(config: dict[str, Any] | None) -> str:
    return str((config or {}).get("type", "none"))[:40]


def _safe_run(config: dict[str, Any], check_input: CheckInput) -> CheckResult:
    # run_checker promises not to raise; a bug in a checker still must not
    # leave the item stuck, so the promise is enforced here too.
    try:
        return run_checker(config, check_input, health=RedisJudgeHealth())
    except Exception as exc:  # noqa: BLE001 - any failure is an error verdict
        log.exception("checker %s raised", _checker_name(config))
        return CheckResult(_checker_name(config), "error", None,
                           f"checker raised {type(exc).__name__}")


class RedisJudgeHealth:
    """Judge health shared by every worker process (RQ forks a process per job, so an
    in-process count would forget). Best effort: without Redis nothing cools down."""

    def _key(self, key: str, part: str) -> str:
        digest = hashlib.sha256(key.encode()).hexdigest()[:24]
        return f"{settings().REDIS_PREFIX}:judge:{digest}:{part}"

    def cooling_until(self, key: str) -> float:
        try:
            value = get_redis().get(self._key(key, "until"))
        except RedisError:
            return 0.0
        return float(value) if value else 0.0

    def record(self, key: str, ok: bool, failure_threshold: int, cooldown: float) -> None:
        try:
            redis = get_redis()
            if ok:
                redis.delete(self._key(key, "failures"))
                return
            failures = redis.incr(self._key(key, "failures"))
            redis.expire(self._key(key, "failures"), 3600)
            if failures >= failure_threshold:
                redis.set(self._key(key, "until"), time.time() + cooldown,
                          ex=max(1, int(cooldown) + 1))
                redis.delete(self._key(key, "failures"))
        except RedisError:
            log.warning("judge health not recorded: Redis unavailable")


def _start_attempt(session: Session, item_id: str) -> int | None:
    """Count the attempt in its own commit, so attempts killed mid-check still count."""
    row = session.execute(
        update(Item)
        .where(Item.id == item_id, Item.status == "checking")
        .values(check_attempts=Item.check_attempts + 1)
        .returning(Item.check_attempts)
        .execution_options(synchronize_session=False)
    ).first()
    session.commit()
    return None if row is None else int(row[0])


def apply_check_result(
    session: Session, item_id: str, result: CheckResult, attempt: int
) -> CheckOutcome:
    """Store `result` on the item and move it on, exactly once (version-guarded)."""
    item = session.get(Item, item_id, populate_existing=True)
    if item is None or item.status != "checking":
        session.rollback()
        return "skipped"
    now = utcnow()
    values: dict[str, Any] = dict(
        check_checker=result.checker[:40],
        check_verdict=result.verdict,
        check_score=result.score,
        check_reason=result.reason or None,
        check_latency_ms=result.latency_ms,
        checked_at=now,
        version=item.version + 1,
        **usage_columns(result.usage),  # the checker's own spend (cost report, budget)
    )
    passed = result.verdict == "pass"
    audited = passed and _audit_check_pass(item)
    if audited:
        passed = False
        values.update(_to_human(item, result, audit=True), audit_sampled=True)
    elif not passed:
        values.update(_to_human(item, result))
    won = session.execute(
        update(Item)
        .where(Item.id == item.id, Item.version == item.version, Item.status == "checking")
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount == 1
    if not won:
        session.rollback()
        return "skipped"
    for key, value in values.items():
        set_committed_value(item, key, value)
    record_event(session, item.id, "checked", "checker", {
        **result.to_dict(), "attempt": attempt, "next": "approve" if passed else "human",
        "audit_sampled": audited})
    if passed:
        reason = f"check pass ({result.checker})"
        if result.reason:
            reason += f": {result.reason}"
        record_decision(session, item, outcome="approve", decided_by="checker", kind="checker",
                        reason=reason[:200], expected_statuses=("checking",),
                        extra={"checker": result.checker, "score": result.score})
    session.commit()
    return "approved" if passed else "pending"


def _audit_check_pass(item: Item) -> bool:
    """A check pass is an automatic approval like the router's, so it is audit-sampled at
    the same rate on every queue: the learned bound and the breaker see what the checker
    approves as well as what the router does (review/adaptive/)."""
    return audit_sampled(f"check:{item.id}", item.queue.audit_rate)


def _to_human(item: Item, result: CheckResult, audit: bool = False) -> dict[str, Any]:
    line = f"check {result.verdict} ({result.checker})"
    if audit:
        line = f"audit sample of a check pass at rate {item.queue.audit_rate:g}: {line}"
    if result.reason:
        line += f": {result.reason}"
    if len(line) > REASON_IN_ROUTE_CHARS:
        line = line[: REASON_IN_ROUTE_CHARS - 1] + "…"
    boost = CHECK_FAIL_PRIORITY_BOOST if result.verdict == "fail" else 0
    if audit:
        boost = AUDIT_PRIORITY_BOOST
    return dict(
        status="pending",
        route_reasons=[*(item.route_reasons or []), line],
        priority=min(100, item.priority + boost),
        due_at=item.created_at + timedelta(seconds=item.queue.sla_seconds),
    )
