"""Operational alerts: tell supervisors before a queue goes bad.

`evaluate_alerts` looks at every queue and at the background machinery and
keeps one Alert row per open problem (an episode):

- `backlog_cap`: a queue's backlog is above its `backlog_cap`;
- `clear_time`: at the current decision rate the backlog would take longer
  than the queue's SLA to clear, once the rate has been watched for
  MIN_RATE_SPAN (or nothing was decided for an hour while items waited longer
  than that);
- `breach_rate`: over ALERT_BREACH_WINDOW, more than ALERT_BREACH_RATE of the
  decided items with an SLA were late (given ALERT_MIN_DECISIONS of them);
- `stalled`: items are pending, the oldest has waited ALERT_STALLED_AFTER, and no
  person decided anything in the queue for that long (nobody is working it: the
  clear-time rule needs an hour of silence, and the breach rate needs decisions);
- `worker_silent`: no RQ worker heartbeat within HEARTBEAT_TIMEOUT (or Redis
  unreachable); `scheduler_silent`: the periodic heartbeat is older than that.

A condition that holds opens an episode unless one is open (the partial
unique index on open `episode_key`s makes that race-proof across workers);
an episode whose condition still holds has its text and figures brought up
to date (with `as_of`, the time they were measured), so the dashboard shows
the latest figures, not those at opening; one whose condition cleared is resolved.
Opening queues one signed POST to ALERT_WEBHOOK_URL through the webhook
machinery, so each episode is notified once, with retries. Runs as a
periodic RQ job (workers/alerts.py) and from `review alerts evaluate` (a
cron-able watchdog for the watchdog).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from review.alerts.episodes import Condition, open_episode, refresh_episodes, resolve_episodes
from review.alerts.overload import KINDS as OVERLOAD_KINDS
from review.alerts.overload import overload_conditions
from review.core.clock import isoformat, utcnow
from review.core.liveness import Liveness, liveness
from review.core.models import Alert, Item, Queue
from review.core.settings import settings
from review.reports.backlog import MACHINE_KINDS, RATE_WINDOW, QueueHealth, queue_health

log = logging.getLogger(__name__)

KINDS = ("backlog_cap", "clear_time", "breach_rate", "stalled", "worker_silent",
         "scheduler_silent") + OVERLOAD_KINDS
# A decision rate is judged only once the queue's work has been watched this long: a
# minute after start-up one decision would otherwise read as "1 an hour" and project
# a backlog taking days to clear.
MIN_RATE_SPAN = timedelta(minutes=5)


@dataclass
class AlertReport:
    opened: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    holding: list[str] = field(default_factory=list)


def evaluate_alerts(session: Session, now: datetime | None = None,
                    alive: Liveness | None = None) -> AlertReport:
    """Open and resolve alert episodes to match the conditions that hold at `now`."""
    now = now or utcnow()
    alive = alive if alive is not None else liveness(now.replace(tzinfo=UTC).timestamp())
    as_of = isoformat(now)
    conditions = {c.key: replace(c, data={**c.data, "as_of": as_of})
                  for c in current_conditions(session, now, alive)}
    report = AlertReport(holding=sorted(conditions))
    open_keys = set(session.scalars(select(Alert.episode_key).where(
        Alert.resolved_at.is_(None), Alert.kind.in_(KINDS))))
    cleared = sorted(open_keys - set(conditions))
    if cleared:
        resolve_episodes(session, cleared, now)
        report.resolved = cleared
    refresh_episodes(session, [conditions[key] for key in sorted(open_keys & set(conditions))])
    session.commit()
    for key in sorted(set(conditions) - open_keys):
        if open_episode(session, conditions[key], now):
            report.opened.append(key)
    return report


def current_conditions(session: Session, now: datetime, alive: Liveness) -> list[Condition]:
    queues = list(session.scalars(select(Queue).order_by(Queue.slug)))
    health = queue_health(session, queues, now, float(settings().AT_RISK_RATIO))
    found: list[Condition] = []
    for h in health:
        found.extend(_queue_conditions(h))
    found.extend(_breach_rate_conditions(session, queues, now))
    found.extend(_stalled_conditions(session, health, now))
    found.extend(overload_conditions(session, queues, now))
    found.extend(_liveness_conditions(alive))
    return found


def _queue_conditions(h: QueueHealth) -> list[Condition]:
    found = []
    if h.backlog_cap is not None and h.backlog > h.backlog_cap:
        found.append(Condition(
            "backlog_cap", f"backlog_cap:{h.slug}", queue_id=h.queue_id,
            message=f"Queue {h.slug}: backlog {h.backlog} is above its cap of {h.backlog_cap}.",
            data={"queue": h.slug, "backlog": h.backlog, "cap": h.backlog_cap}))
    clear = h.projected_clear_seconds
    waited = (h.oldest_age_seconds or 0) > RATE_WINDOW.total_seconds()
    watched = (h.observed_seconds or 0) >= MIN_RATE_SPAN.total_seconds()
    if h.backlog and ((clear is None and waited) or (clear is not None and watched
                                                     and clear > h.sla_seconds)):
        rate = f"{h.decisions_per_hour:g} decisions/h"
        eta = "never at this rate" if clear is None else f"in {clear / 60:.0f} min"
        found.append(Condition(
            "clear_time", f"clear_time:{h.slug}", queue_id=h.queue_id,
            message=(f"Queue {h.slug}: {h.backlog} waiting would clear {eta} ({rate}); "
                     f"the SLA is {h.sla_seconds / 60:.0f} min."),
            data={"queue": h.slug, "backlog": h.backlog, "projected_clear_seconds": clear,
                  "decisions_per_hour": h.decisions_per_hour, "sla_seconds": h.sla_seconds}))
    return found


def breach_rates(session: Session, queues: list[Queue], now: datetime,
                 window: timedelta) -> dict[int, tuple[int, int]]:
    """Per queue id: (decided items with an SLA, of which late) over the window."""
    rows = session.execute(
        select(Item.queue_id, func.count(),
               func.sum(case((Item.decided_at > Item.due_at, 1), else_=0)))
        .where(Item.queue_id.in_([q.id for q in queues]), Item.decided_at.is_not(None),
               Item.decided_at > now - window, Item.decided_at <= now,
               Item.due_at.is_not(None))
        .group_by(Item.queue_id)
    ).all()
    return {queue_id: (count, int(late or 0)) for queue_id, count, late in rows}


def _breach_rate_conditions(session: Session, queues: list[Queue], now: datetime
                            ) -> list[Condition]:
    config = settings()
    window = timedelta(seconds=int(config.ALERT_BREACH_WINDOW))
    threshold = float(config.ALERT_BREACH_RATE)
    minimum = int(config.ALERT_MIN_DECISIONS)
    by_id = {q.id: q for q in queues}
    found = []
    for queue_id, (count, late) in breach_rates(session, queues, now, window).items():
        if count >= minimum and late / count > threshold:
            slug = by_id[queue_id].slug
            found.append(Condition(
                "breach_rate", f"breach_rate:{slug}", queue_id=queue_id,
                message=(f"Queue {slug}: {late} of {count} items decided in the last "
                         f"{window.total_seconds() / 60:.0f} min missed their SLA "
                         f"({late / count:.0%} > {threshold:.0%})."),
                data={"queue": slug, "decided": count, "late": late, "rate": late / count,
                      "threshold": threshold}))
    return found


def _stalled_conditions(session: Session, health: list[QueueHealth], now: datetime
                        ) -> list[Condition]:
    after = int(settings().ALERT_STALLED_AFTER)
    if after <= 0:
        return []
    waiting = [h for h in health if h.pending and (h.oldest_age_seconds or 0) > after]
    if not waiting:
        return []
    since = now - timedelta(seconds=after)
    worked = set(session.scalars(
        select(Item.queue_id).where(
            Item.queue_id.in_([h.queue_id for h in waiting]), Item.decided_at.is_not(None),
            Item.decided_at > since, Item.decided_by_kind.not_in(MACHINE_KINDS))
        .group_by(Item.queue_id)))
    found = []
    for h in waiting:
        if h.queue_id in worked:
            continue
        found.append(Condition(
            "stalled", f"stalled:{h.slug}", queue_id=h.queue_id,
            message=(f"Queue {h.slug} is stalled: {h.pending} pending "
                     f"({h.breached} breached) and nobody decided anything for "
                     f"{after / 60:.0f} min; the oldest has waited "
                     f"{(h.oldest_age_seconds or 0) / 60:.0f} min."),
            data={"queue": h.slug, "pending": h.pending, "breached": h.breached,
                  "stalled_after_seconds": after,
                  "oldest_age_seconds": h.oldest_age_seconds}))
    return found


def _liveness_conditions(alive: Liveness) -> list[Condition]:
    timeout = float(settings().HEARTBEAT_TIMEOUT)
    found = []
    if not alive.redis_ok:
        found.append(Condition("worker_silent", "worker_silent",
                               "Redis is unreachable: no background work can run."))
    elif alive.workers_alive == 0:
        age = alive.newest_worker_age
        found.append(Condition(
            "worker_silent", "worker_silent",
            "No RQ worker is alive" + (f" (last heartbeat {age:.0f} s ago)." if age else "."),
            data={"newest_worker_age": age}))
    if alive.redis_ok and (alive.scheduler_age is None or alive.scheduler_age > timeout):
        age = alive.scheduler_age
        found.append(Condition(
            "scheduler_silent", "scheduler_silent",
            "Periodic jobs are not running" + (f" (last run {age:.0f} s ago)." if age
                                               else " (never seen)."),
            data={"scheduler_age": age}))
    return found
