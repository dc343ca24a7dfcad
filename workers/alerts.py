"""RQ job: evaluate the operational alerts; its run is the scheduler's heartbeat."""

from __future__ import annotations

from dataclasses import asdict

from review.alerts.rules import evaluate_alerts
from review.core.db import get_session
from review.core.liveness import record_heartbeat
from workers import in_app


def evaluate() -> dict:
    def run() -> dict:
        record_heartbeat()
        return asdict(evaluate_alerts(get_session()))

    return in_app(run)
