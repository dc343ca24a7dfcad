"""RQ job: evaluate the operational alerts; its run is the scheduler's heartbeat."""

from __future__ import annotations

from workers import in_app


def evaluate() -> dict:
    from dataclasses import asdict

    from review.alerts import evaluate_alerts
    from review.db import get_session
    from review.liveness import record_heartbeat

    def run() -> dict:
        record_heartbeat()
        return asdict(evaluate_alerts(get_session()))

    return in_app(run)
