"""Alert episodes: one open Alert row per condition, notified once.

A condition that holds opens an episode unless one is open (the partial unique index on
open `episode_key`s makes that race-proof across workers); opening it queues one signed
POST to ALERT_WEBHOOK_URL through the webhook outbox. While it holds, the evaluator keeps
the episode's text and figures current (`refresh_episodes`). The evaluator (rules.py), the
SLA clock, the breaker and the drift check all open and resolve episodes here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from review.core.models import Alert
from review.core.settings import settings
from review.reports.dashboard import alert_to_dict
from review.webhooks.outbox import add_delivery

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Condition:
    kind: str
    key: str
    message: str
    queue_id: int | None = None
    data: dict[str, Any] = field(default_factory=dict)


def resolve_episodes(session: Session, keys: list[str], now: datetime) -> None:
    """Close the open episodes of these keys (none open: nothing happens); no commit."""
    session.execute(update(Alert).where(Alert.resolved_at.is_(None), Alert.episode_key.in_(keys))
                    .values(resolved_at=now).execution_options(synchronize_session=False))


def insert_episode(session: Session, *, kind: str, key: str, message: str,
                   data: dict[str, Any], now: datetime, queue_id: int | None = None,
                   item_id: str | None = None) -> Alert | None:
    """Insert an open episode; None, with nothing written, if one is open already. No commit.

    ON CONFLICT DO NOTHING on the open-episode index, not a failed INSERT: a failed
    statement would force a rollback of the caller's whole transaction (the resolutions
    of the same pass with it), and a SAVEPOINT is no cure on SQLite, where pysqlite has
    not begun a transaction before the first write, so the savepoint becomes the
    outermost transaction and releasing it commits the alert without its notification.
    On PostgreSQL a concurrent uncommitted insert of the key makes this one wait for it.
    """
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    alert_id = session.scalar(
        dialect.insert(Alert)
        .values(queue_id=queue_id, item_id=item_id, kind=kind, episode_key=key,
                message=message, data=data, opened_at=now)
        .on_conflict_do_nothing(index_elements=[Alert.episode_key],
                                index_where=Alert.resolved_at.is_(None))
        .returning(Alert.id))
    return None if alert_id is None else session.get(Alert, alert_id)


def open_episode(session: Session, condition: Condition, now: datetime) -> Alert | None:
    """Insert the episode and its notification; None if it is open already.

    Commits either way, with whatever the caller has pending (a pass's resolutions, a
    breaker trip): an episode that is open already undoes nothing.
    """
    alert = insert_episode(session, kind=condition.kind, key=condition.key,
                           message=condition.message, data=condition.data, now=now,
                           queue_id=condition.queue_id)
    if alert is None:  # another evaluator opened (and notified) it first
        session.commit()
        return None
    notify(session, alert, event_id=f"evt_alert_{alert.id}", body=alert_to_dict(alert))
    session.commit()
    log.warning("alert opened: %s", condition.message)
    return alert


def refresh_episodes(session: Session, conditions: list[Condition]) -> None:
    """Bring the open episodes of conditions that still hold up to date; no commit.

    An episode is notified once, at opening, but the dashboard shows its text for as long
    as it is open: figures frozen at opening ("backlog 1500" beside a live 1488) mislead.
    """
    for condition in conditions:
        session.execute(
            update(Alert)
            .where(Alert.resolved_at.is_(None), Alert.episode_key == condition.key)
            .values(message=condition.message, data=condition.data)
            .execution_options(synchronize_session=False))


def notify(session: Session, alert: Alert, *, event_id: str, body: dict[str, Any]) -> None:
    """Queue the alert's one POST to ALERT_WEBHOOK_URL (if set), in the alert's transaction."""
    url = settings().ALERT_WEBHOOK_URL
    if not url:
        return
    # Due now, whatever clock the caller decided by: the alert goes out at once.
    add_delivery(session, event_id=event_id, item_id=alert.item_id, kind=f"alert.{alert.kind}",
                 url=url, payload={"type": f"alert.{alert.kind}", "alert": body})
    alert.notified_at = alert.opened_at
