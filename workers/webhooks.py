"""RQ job: one attempt of one webhook delivery."""

from __future__ import annotations

from review.core.db import get_session
from review.webhooks.delivery import deliver as deliver_once
from workers import in_app


def deliver(delivery_id: int) -> str:
    return in_app(lambda: deliver_once(get_session(), delivery_id))
