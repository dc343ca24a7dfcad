"""The reviewer report: who decided how much, how fast, and what they hold now.

Counted from Review rows (one per human verdict, so consensus reviews count
for each reviewer) written in the date range, in the queues asked for, via
the daily rollups (review/reports/rollups.py, kinds `reviews` and `handling`).
Handling time is `created_at - claimed_at` of a review, from the claim to
the verdict; its median is nearest-rank at the resolution of
`rollups.duration_bucket` (1 s below a minute, 5 s below 10 min, ...).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from review.core.models import Item, Queue, User
from review.reports.rollups import grouped, percentile_from_counts
from review.reports.sla_report import DateRange


def reviewer_report(session: Session, queues: list[Queue], span: DateRange) -> dict[str, Any]:
    ids = [q.id for q in queues]
    people: dict[int, dict[str, Any]] = {}

    def person(reviewer_id: int) -> dict[str, Any]:
        return people.setdefault(reviewer_id, {
            "reviewer_id": reviewer_id, "decisions": 0, "approve": 0, "edit": 0, "reject": 0,
            "per_day": {}, "median_handling_seconds": None, "current_claims": 0})

    for row in grouped(session, "reviews", ids, span.first, span.last):
        p = person(int(row.keys[0]))
        day = row.day.isoformat()
        p["per_day"][day] = p["per_day"].get(day, 0) + row.n
        p["decisions"] += row.n
        if row.keys[1] in ("approve", "edit", "reject"):
            p[row.keys[1]] += row.n
    handling: dict[int, Counter[int]] = {}
    for row in grouped(session, "handling", ids, span.first, span.last, by_day=False):
        handling.setdefault(int(row.keys[0]), Counter())[int(row.keys[1])] += row.n
    for reviewer_id, counts in handling.items():
        person(reviewer_id)["median_handling_seconds"] = percentile_from_counts(counts, 0.5)
    for reviewer_id, count in session.execute(
            select(Item.claimed_by, func.count())
            .where(Item.status == "in_review", Item.queue_id.in_(ids),
                   Item.claimed_by.is_not(None))
            .group_by(Item.claimed_by)):
        person(reviewer_id)["current_claims"] = count
    names = dict(session.execute(
        select(User.id, User.name).where(User.id.in_(list(people)))).all())
    rows = []
    for p in people.values():
        p["name"] = names.get(p["reviewer_id"], f"#{p['reviewer_id']}")
        n = p["decisions"]
        p["edit_share"] = p["edit"] / n if n else None
        p["reject_share"] = p["reject"] / n if n else None
        rows.append(p)
    rows.sort(key=lambda p: (-p["decisions"], p["name"]))
    return {"queues": [q.slug for q in queues], "range": span.to_dict(),
            "days": [d.isoformat() for d in span.days()], "reviewers": rows,
            "total_decisions": sum(p["decisions"] for p in rows)}
