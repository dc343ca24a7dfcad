"""The outbox: the one place a webhook delivery is created.

A delivery row is written in the same transaction as what it reports (a decision, an
alert), so nothing can lose its webhook; after the commit its first attempt is enqueued
(review/webhooks/delivery.py sends it), and the sweeper re-enqueues it if that is lost.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from review.core.clock import utcnow
from review.core.db import after_commit
from review.core.items import item_to_dict
from review.core.models import Item, WebhookDelivery
from review.webhooks.delivery import enqueue_attempt


def add_delivery(session: Session, *, event_id: str, kind: str, url: str,
                 payload: dict[str, Any], item_id: str | None = None,
                 secret_key_name: str | None = None,
                 due_at: datetime | None = None) -> WebhookDelivery:
    """Add a pending delivery to the session; its first attempt is enqueued after commit.

    `secret_key_name` is the submitting key whose secret signs it (None: the instance's
    webhook secret, as for alerts).
    """
    delivery = WebhookDelivery(
        event_id=event_id, item_id=item_id, kind=kind, url=url, payload=payload,
        secret_key_name=secret_key_name, status="pending",
        next_attempt_at=due_at or utcnow())
    session.add(delivery)
    after_commit(session, _enqueue_committed, delivery)
    return delivery


def _enqueue_committed(delivery: WebhookDelivery) -> None:
    # The id exists only after the flush inside commit.
    enqueue_delivery(delivery.id)


def enqueue_delivery(delivery_id: int) -> bool:
    return enqueue_attempt(delivery_id, 1)


def webhook_target(item: Item) -> str | None:
    return item.callback_url or item.queue.webhook_url


def queue_decision_webhook(session: Session, item: Item) -> WebhookDelivery | None:
    """Write the delivery row for a decided item and send it after commit."""
    url = webhook_target(item)
    if not url:
        return None
    return add_delivery(
        session, event_id=f"evt_{item.id}_decided", item_id=item.id, kind="item.decided",
        url=url, payload={"type": "item.decided", "item": item_to_dict(item)},
        secret_key_name=item.submitter, due_at=item.decided_at)
