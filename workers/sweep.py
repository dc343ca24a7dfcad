"""RQ job: re-enqueue checks and webhook deliveries whose jobs vanished."""

from __future__ import annotations

from workers import in_app


def sweep() -> dict:
    from dataclasses import asdict

    from review.db import get_session
    from review.sweeper import sweep as run_sweep

    return in_app(lambda: asdict(run_sweep(get_session())))
