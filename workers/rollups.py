"""RQ job: store the report rollups of days that closed since the last run."""

from __future__ import annotations

from review.core.db import get_session
from review.reports.rollups import refresh_rollups
from workers import in_app


def refresh() -> int:
    return in_app(lambda: refresh_rollups(get_session()))
