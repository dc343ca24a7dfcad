"""RQ job: purge payloads of items decided more than RETENTION_DAYS ago."""

from __future__ import annotations

from review.core.clock import utcnow
from review.core.db import get_session
from review.core.settings import settings
from review.ops.retention import purge_payloads
from workers import in_app


def purge() -> int:
    def _run() -> int:
        days = int(settings().RETENTION_DAYS)
        return purge_payloads(get_session(), utcnow(), days).purged

    return in_app(_run)
