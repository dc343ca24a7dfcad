"""Alert episodes: one open Alert row per condition, notified once.

A condition that holds opens an episode unless one is open (the partial unique index on
open `episode_key`s makes that race-proof across workers); opening it queues one signed
POST to ALERT_WEBHOOK_URL through the webhook outbox. The evaluator (rules.py), the SLA
clock, the breaker and the drift check all open and resolve episodes here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
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
    """Close the open episodes of these keys (none open: nothing happens)."""
    session.execute(update(Alert).where(Alert.resolved_at.is_(None), Alert.episode_key.in_(keys))
                    .values(resolved_at=now).execution_options(synchronize_session=False))


def open_episode(session: Session, condition: Condition, now: datetime) -> Alert | None:
    """Insert the episode and its notification; None if it is open already."""
    alert = Alert(queue_id=condition.queue_id, kind=condition.kind,
                  episode_key=condition.key, message=condition.message,
                  data=condition.data, opened_at=now)
    session.add(alert)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()  # another evaluator opened (and notified) it first
        return None
    notify(session, alert, event_id=f"evt_alert_{alert.id}", body=alert_to_dict(alert))
    session.commit()
    log.warning("alert opened: %s", condition.message)
    return alert


def notify(session: Session, alert: Alert, *, event_id: str, body: dict[str, Any]) -> None:
    """Queue the alert's one POST to ALERT_WEBHOOK_URL (if set), in the alert's transaction."""
    url = settings().ALERT_WEBHOOK_URL
    if not url:
        return
    # Due now, whatever clock the caller decided by: the alert goes out at once.
    add_delivery(session, event_id=event_id, item_id=alert.item_id, kind=f"alert.{alert.kind}",
                 url=url, payload={"type": f"alert.{alert.kind}", "alert": body})
    alert.notified_at = alert.opened_at
