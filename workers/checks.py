"""RQ job: the secondary check of one item."""

from __future__ import annotations

from review.core.db import get_session
from review.intake.secondary_check import run_item_check
from workers import in_app


def run_check(item_id: str) -> str:
    return in_app(lambda: run_item_check(get_session(), item_id))
