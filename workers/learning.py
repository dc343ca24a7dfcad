"""RQ job: the adaptive-routing pass (thresholds, breaker, rollout, confidence shift)."""

from __future__ import annotations

from review.adaptive.learning import refresh_all
from review.core.db import get_session
from workers import in_app


def refresh() -> list[dict]:
    return in_app(lambda: refresh_all(get_session()))
