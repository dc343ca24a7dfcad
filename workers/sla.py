"""RQ job: one tick of the SLA clock."""

from __future__ import annotations

from workers import in_app


def tick() -> dict:
    from dataclasses import asdict

    from review.db import get_session
    from review.sla import tick as run_tick

    return in_app(lambda: asdict(run_tick(get_session())))
