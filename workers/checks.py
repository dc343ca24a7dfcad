"""RQ job: the secondary check of one item."""

from __future__ import annotations

from workers import in_app


def run_check(item_id: str) -> str:
    from review.checking import run_item_check
    from review.db import get_session

    return in_app(lambda: run_item_check(get_session(), item_id))
