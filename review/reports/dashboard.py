"""The supervisor's dashboard: every supervised queue's health and the alerts to see.

One function serves the dashboard page, its `?format=json` and GET /api/v1/reports/dashboard.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from review.core.clock import isoformat, utcnow
from review.core.models import Alert, Queue
from review.core.settings import settings
from review.reports.backlog import QueueHealth, queue_health


@dataclass
class Dashboard:
    as_of: datetime
    health: list[QueueHealth]
    alerts: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"as_of": isoformat(self.as_of), "queues": [h.to_dict() for h in self.health],
                "alerts": self.alerts}


def dashboard(session: Session, queues: list[Queue], now: datetime | None = None) -> Dashboard:
    now = now or utcnow()
    return Dashboard(now, queue_health(session, queues, now, float(settings().AT_RISK_RATIO)),
                     visible_alerts(session, [q.id for q in queues]))


def alert_to_dict(alert: Alert) -> dict[str, Any]:
    return {"id": alert.id, "kind": alert.kind, "key": alert.episode_key,
            "message": alert.message, "data": alert.data or {},
            "opened_at": isoformat(alert.opened_at), "resolved_at": isoformat(alert.resolved_at),
            "notified_at": isoformat(alert.notified_at)}


def visible_alerts(session: Session, queue_ids: list[int], limit: int = 50
                   ) -> dict[str, Any]:
    """Open and recent alerts of these queues and the global ones, for the dashboard."""
    scope = (Alert.queue_id.in_(queue_ids)) | (Alert.queue_id.is_(None))
    open_rows = list(session.scalars(
        select(Alert).where(scope, Alert.resolved_at.is_(None), Alert.item_id.is_(None))
        .order_by(Alert.opened_at.desc()).limit(limit)))
    recent = list(session.scalars(
        select(Alert).where(scope, Alert.resolved_at.is_not(None), Alert.item_id.is_(None))
        .order_by(Alert.resolved_at.desc()).limit(10)))
    # Per-item SLA alerts (the SLA clock's) are counted, not listed: there can be many.
    item_counts = dict(session.execute(
        select(Alert.kind, func.count()).where(
            Alert.queue_id.in_(queue_ids), Alert.resolved_at.is_(None),
            Alert.item_id.is_not(None)).group_by(Alert.kind)).all())
    return {"open": [alert_to_dict(a) for a in open_rows],
            "recent": [alert_to_dict(a) for a in recent], "item_alerts": item_counts}
