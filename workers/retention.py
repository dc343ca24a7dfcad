"""RQ job: purge payloads of items decided more than RETENTION_DAYS ago."""

from __future__ import annotations

from workers import in_app


def purge() -> int:
    from flask import current_app

    from review.clock import utcnow
    from review.db import get_session
    from review.retention import purge_payloads

    def _run() -> int:
        days = int(current_app.config["RETENTION_DAYS"])
        return purge_payloads(get_session(), utcnow(), days).purged

    return in_app(_run)
