"""Webhooks: signed POSTs of decided items to upstream, delivered by RQ jobs.

A delivery row is written in the same transaction as the decision, so a
decision can never lose its webhook; the job only sends what the row says.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from sqlalchemy.orm import Session

from review.core.db import after_commit
from review.core.models import Item, WebhookDelivery

SIGNATURE_HEADER = "X-Review-Signature"
EVENT_HEADER = "X-Review-Event-Id"


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """`t=UNIX,v1=HEX`, HMAC-SHA256 over `t.body`: the timestamp binds against replay."""
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def verify_signature(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
    """Receiver side check: right MAC and a timestamp within `tolerance` seconds."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        ts = int(fields["t"])
    except (ValueError, KeyError):
        return False
    if abs(time.time() - ts) > tolerance:
        return False
    expected = sign(secret, body, ts).split("v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))


def webhook_target(item: Item) -> str | None:
    return item.callback_url or item.queue.webhook_url


def queue_decision_webhook(session: Session, item: Item) -> WebhookDelivery | None:
    """Write the delivery row for a decided item and send it after commit."""
    url = webhook_target(item)
    if not url:
        return None
    from review.core.items import item_to_dict

    delivery = WebhookDelivery(
        event_id=f"evt_{item.id}_decided",
        item_id=item.id,
        kind="item.decided",
        url=url,
        payload={"type": "item.decided", "item": item_to_dict(item)},
        secret_key_name=item.submitter,
        status="pending",
        next_attempt_at=item.decided_at,
    )
    session.add(delivery)
    after_commit(session, _enqueue_committed, delivery)
    return delivery


def _enqueue_committed(delivery: WebhookDelivery) -> None:
    # The id exists only after the flush inside commit.
    enqueue_delivery(delivery.id)


def enqueue_delivery(delivery_id: int) -> bool:
    from review.webhooks.delivery import enqueue_attempt

    return enqueue_attempt(delivery_id, 1)
