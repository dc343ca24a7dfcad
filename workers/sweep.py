"""RQ job: re-enqueue checks and webhook deliveries whose jobs vanished."""

from __future__ import annotations

from dataclasses import asdict

from review.core.db import get_session
from review.ops.sweeper import sweep as run_sweep
from workers import in_app


def sweep() -> dict:
    return in_app(lambda: asdict(run_sweep(get_session())))
