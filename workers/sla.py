"""RQ job: one tick of the SLA clock."""

from __future__ import annotations

from dataclasses import asdict

from review.core.db import get_session
from review.ops.sla_clock import tick as run_tick
from workers import in_app


def tick() -> dict:
    return in_app(lambda: asdict(run_tick(get_session())))
