"""Retention: purge item payloads a while after the decision, keep the audit.

With RETENTION_DAYS = N > 0, items decided more than N days ago lose their
payloads: the model input, output and context, the decided (edited) output,
the metadata, the reviewers' notes and edited outputs, and the item copy in
sent webhook payloads. What stays is the audit summary: ids, queue,
submitter, status, route, confidence, decision outcome and reason, who
decided and when, every time stamp and the whole event trail (plus one
`payload_purged` event). `purged_at` records when.

An item whose decision webhook is still pending is left alone until it is
delivered or given up, so retention never empties a payload that still has
to reach upstream. Purging is idempotent and batched, so the periodic job may
run late, twice, or beside another worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from review.core.events import record_event
from review.core.models import Item, Review, WebhookDelivery

BATCH = 500
PURGED_PAYLOAD = {"purged": True}


@dataclass
class PurgeReport:
    purged: int = 0
    cutoff: datetime | None = None


def purgeable(now: datetime, days: int):  # noqa: ANN201 - a select of item ids
    cutoff = now - timedelta(days=days)
    pending_webhook = exists().where(WebhookDelivery.item_id == Item.id,
                                     WebhookDelivery.status == "pending")
    return (select(Item.id)
            .where(Item.decided_at.is_not(None), Item.decided_at < cutoff,
                   Item.purged_at.is_(None), ~pending_webhook)
            .order_by(Item.decided_at, Item.id))


def purge_payloads(session: Session, now: datetime, days: int) -> PurgeReport:
    """Purge the payloads of items decided before `now - days`; commit per batch."""
    report = PurgeReport(cutoff=now - timedelta(days=days))
    if days <= 0:
        return report
    while True:
        ids = list(session.scalars(purgeable(now, days).limit(BATCH)))
        if not ids:
            return report
        # The purged_at IS NULL guard makes a racing purger skip rows this one took.
        taken = list(session.scalars(
            update(Item)
            .where(Item.id.in_(ids), Item.purged_at.is_(None))
            .values(input=None, output=None, context=[], decision_output=None, meta={},
                    decision_note=None, purged_at=now)
            .returning(Item.id)
            .execution_options(synchronize_session=False)))
        if taken:
            session.execute(update(Review).where(Review.item_id.in_(taken))
                            .values(output=None, note=None)
                            .execution_options(synchronize_session=False))
            session.execute(update(WebhookDelivery)
                            .where(WebhookDelivery.item_id.in_(taken),
                                   WebhookDelivery.status != "pending")
                            .values(payload=PURGED_PAYLOAD)
                            .execution_options(synchronize_session=False))
            for item_id in taken:
                record_event(session, item_id, "payload_purged", "retention",
                             {"retention_days": days})
        session.commit()
        report.purged += len(taken)
