"""RQ job: one attempt of one webhook delivery."""

from __future__ import annotations

from workers import in_app


def deliver(delivery_id: int) -> str:
    from review.db import get_session
    from review.webhook_delivery import deliver as deliver_once

    return in_app(lambda: deliver_once(get_session(), delivery_id))
