"""RQ job: the adaptive-routing pass (thresholds, breaker, rollout, confidence shift)."""

from __future__ import annotations

from workers import in_app


def refresh() -> list[dict]:
    from review.db import get_session
    from review.learning import refresh_all

    return in_app(lambda: refresh_all(get_session()))
