"""RQ job: store the report rollups of days that closed since the last run."""

from __future__ import annotations

from workers import in_app


def refresh() -> int:
    from review.db import get_session
    from review.rollups import refresh_rollups

    return in_app(lambda: refresh_rollups(get_session()))
