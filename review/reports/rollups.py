"""Daily rollups: the reports' grouped counts, stored once a day is over.

Every report (SLA, quality, reviewers) is built from grouped rows of a few
kinds: a day, a queue, some key columns and a count (plus a sum and a
minimum time for some kinds). For a day that is over, those rows never
change again: items are created and decided, and reviews written, at the
current time, so nothing lands in a closed day. `refresh_rollups` (a periodic
job) stores the rows of each closed day in `report_rollups` and marks the day
done in `report_rollup_days`; `grouped` reads stored rows for those days and
computes the others (today, or days not rolled up yet) live from the raw
tables. Both paths run the same grouping, so a report is identical either
way; only its cost differs (a week of a million items reads a few thousand
rollup rows instead of scanning the items).

Days are closed ROLLUP_DELAY after midnight UTC, so a transaction that began
before midnight has committed. Backdated imports need `review reports
rollup --rebuild`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, case, cast, delete, func, insert, literal, select
from sqlalchemy.orm import Session

from review.core.clock import utcnow
from review.core.models import Item, Queue, ReportRollup, ReportRollupDay, Review
from review.core.sql_time import as_datetime, dialect, seconds_between

ROLLUP_DELAY = timedelta(hours=1)
DEFAULT_DAYS = 35
MACHINE_KINDS = ("router", "checker")
# Confidence bucket k holds [k/10, (k+1)/10); the last also holds 1.0.
BUCKET_EDGES = tuple(round(0.1 * k, 1) for k in range(1, 10))


@dataclass(frozen=True)
class Row:
    """One grouped row: its day and queue, key values, count, sum and earliest time."""

    day: date | None
    queue_id: int
    keys: tuple[str | None, ...]
    n: int
    total: float
    first_at: datetime | None


def whole_seconds(session: Session, start: Any, end: Any) -> Any:
    """`end - start` in whole seconds, truncated (rounded to the millisecond first:
    SQLite's julianday arithmetic is off by microseconds)."""
    if dialect(session) == "postgresql":
        # date_part is float8 (extract is numeric, several times slower); adding half
        # a millisecond before floor() is rounding to the millisecond, then truncating.
        return cast(func.floor(func.date_part("epoch", end - start) + 0.0005), Integer)
    return cast(func.round(seconds_between(session, start, end), 3), Integer)


# Durations are kept to the second below a minute, 5 s below 10 min, 30 s below
# an hour, 5 min below a day and 30 min beyond: percentiles are exact at that
# resolution (they report a bucket's lower bound) and rollups stay small.
DURATION_STEPS = ((60, 1), (600, 5), (3600, 30), (86400, 300))
LONG_STEP = 1800


def duration_bucket(seconds: int) -> int:
    if seconds < 0:
        return 0
    for limit, step in DURATION_STEPS:
        if seconds < limit:
            return seconds - seconds % step
    return seconds - seconds % LONG_STEP


def _duration_bucket_sql(seconds: Any) -> Any:
    return case((seconds < 0, 0),
                *[(seconds < limit, seconds // step * step) for limit, step in DURATION_STEPS],
                else_=seconds // LONG_STEP * LONG_STEP)


def confidence_bucket(confidence: float) -> int:
    for k, edge in enumerate(BUCKET_EDGES):
        if confidence < edge:
            return k
    return len(BUCKET_EDGES)


def _confidence_bucket_sql() -> Any:
    return case(*[(Item.confidence < edge, k) for k, edge in enumerate(BUCKET_EDGES)],
                else_=len(BUCKET_EDGES))


def _human() -> Any:
    return Item.decided_by_kind.not_in(MACHINE_KINDS)


@dataclass(frozen=True)
class Kind:
    """How to group one kind of rows for one day, straight from the raw tables."""

    name: str
    time_column: Any
    queue_column: Any
    keys: Callable[[Session], list[Any]]
    where: Callable[[], list[Any]]
    width: int = 0  # how many key columns
    total: Any = None
    first: Any = None


KINDS = {kind.name: kind for kind in (
    # SLA report: decisions by kind, with time to decision (a duration bucket) and
    # lateness for items that had a due time.
    Kind("decided", Item.decided_at, Item.queue_id,
         keys=lambda s: [Item.decided_by_kind,
                         case((Item.due_at.is_not(None), _duration_bucket_sql(
                             whole_seconds(s, Item.created_at, Item.decided_at)))),
                         case((Item.due_at.is_(None), None),
                              (Item.decided_at > Item.due_at, 1), else_=0)],
         where=lambda: [Item.decided_at.is_not(None)], width=3),
    # Quality report: items by model/prompt version and route, when created.
    Kind("created", Item.created_at, Item.queue_id,
         keys=lambda s: [Item.model_name, Item.model_version, Item.prompt_version,
                         Item.route_path],
         where=lambda: [], width=4, total=Item.confidence, first=Item.created_at),
    # Quality report: human decisions by version, confidence bucket, outcome, check
    # verdict and reason, when decided.
    Kind("human", Item.decided_at, Item.queue_id,
         keys=lambda s: [Item.model_name, Item.model_version, Item.prompt_version,
                         _confidence_bucket_sql(), Item.decision_outcome, Item.check_verdict,
                         Item.decision_reason],
         where=lambda: [Item.decided_at.is_not(None), _human()], width=7,
         total=Item.confidence),
    # Reviewer report: verdicts by reviewer and outcome; handling time by reviewer.
    Kind("reviews", Review.created_at, Review.queue_id,
         keys=lambda s: [Review.reviewer_id, Review.outcome], where=lambda: [], width=2),
    Kind("handling", Review.created_at, Review.queue_id,
         keys=lambda s: [Review.reviewer_id, _duration_bucket_sql(
             whole_seconds(s, Review.claimed_at, Review.created_at))],
         where=lambda: [Review.claimed_at.is_not(None)], width=2),
)}


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day)
    return start, start + timedelta(days=1)


def live_rows(session: Session, kind_name: str, day: date,
              queue_ids: Iterable[int] | None = None, by_queue: bool = True) -> list[Row]:
    """The kind's grouped rows of one day, computed from the raw tables (with
    `by_queue=False`, summed over the queues: queue_id 0)."""
    kind = KINDS[kind_name]
    keys = kind.keys(session)
    start, end = _day_bounds(day)
    where = [kind.time_column >= start, kind.time_column < end, *kind.where()]
    if queue_ids is not None:
        where.append(kind.queue_column.in_(list(queue_ids)))
    total = func.sum(kind.total) if kind.total is not None else literal(0.0)
    first = func.min(kind.first) if kind.first is not None else literal(None)
    queue = kind.queue_column if by_queue else literal(0)
    groups = [kind.queue_column, *keys] if by_queue else keys
    query = (select(queue, *keys, func.count(), total, first).where(*where).group_by(*groups))
    rows = []
    for queue_id, *rest in session.execute(query):
        *values, n, total_value, first_at = rest
        rows.append(Row(day, queue_id, tuple(None if v is None else str(v) for v in values),
                        n, float(total_value or 0.0), first_at))
    return rows


def closed_until(now: datetime) -> date:
    """The last day whose rows can no longer change."""
    return (now - ROLLUP_DELAY).date() - timedelta(days=1)


def rolled_days(session: Session, kind_name: str, first: date, last: date) -> set[date]:
    return set(session.scalars(select(ReportRollupDay.day).where(
        ReportRollupDay.kind == kind_name, ReportRollupDay.day >= first,
        ReportRollupDay.day <= last)))


def grouped(session: Session, kind_name: str, queue_ids: list[int], first: date, last: date,
            by_day: bool = True) -> list[Row]:
    """The kind's rows for days first..last of these queues: stored where rolled up,
    live elsewhere. With `by_day=False` the database sums the stored rows over days
    and queues (day None, queue_id 0): far fewer rows for reports that need neither."""
    kind = KINDS[kind_name]
    done = sorted(rolled_days(session, kind_name, first, last))
    keys = [ReportRollup.k1, ReportRollup.k2, ReportRollup.k3, ReportRollup.k4, ReportRollup.k5,
            ReportRollup.k6, ReportRollup.k7][:kind.width]
    rows: list[Row] = []
    if done:
        head = [ReportRollup.day, ReportRollup.queue_id] if by_day else [
            literal(None), literal(0)]
        query = (select(*head, *keys, func.sum(ReportRollup.n), func.sum(ReportRollup.total),
                        func.min(ReportRollup.first_at))
                 .where(ReportRollup.kind == kind_name, ReportRollup.queue_id.in_(queue_ids),
                        ReportRollup.day.in_(done))
                 .group_by(*(head if by_day else []), *keys))
        for day, queue_id, *rest in session.execute(query):
            *values, n, total, first_at = rest
            rows.append(Row(day if by_day else None, queue_id, tuple(values), int(n),
                            float(total or 0.0), first_at))
    day = first
    while day <= last:
        if day not in done:
            for row in live_rows(session, kind_name, day, queue_ids, by_queue=by_day):
                rows.append(row if by_day else Row(None, 0, row.keys, row.n, row.total,
                                                   row.first_at))
        day += timedelta(days=1)
    return rows


def refresh_rollups(session: Session, now: datetime | None = None, days: int = DEFAULT_DAYS,
                    rebuild: bool = False) -> int:
    """Roll up every closed day of the last `days` not rolled up yet; return days stored."""
    now = now or utcnow()
    last = closed_until(now)
    first = last - timedelta(days=days - 1)
    earliest = _earliest_item_day(session)
    if earliest is None:
        return 0
    first = max(first, earliest)  # nothing happened before the first item
    stored = 0
    for kind_name in KINDS:
        done = set() if rebuild else rolled_days(session, kind_name, first, last)
        day = first
        while day <= last:
            if day not in done:
                store_day(session, kind_name, day)
                stored += 1
            day += timedelta(days=1)
    return stored


def _earliest_item_day(session: Session) -> date | None:
    # One indexed min() per queue: a min() over all items would scan them.
    firsts = [session.scalar(select(func.min(Item.created_at)).where(Item.queue_id == queue_id))
              for queue_id in session.scalars(select(Queue.id))]
    known = [as_datetime(f) for f in firsts if f is not None]
    return min(known).date() if known else None


def store_day(session: Session, kind_name: str, day: date) -> None:
    """Replace the kind's stored rows of `day` and mark it done, in one transaction."""
    rows = live_rows(session, kind_name, day)
    session.execute(delete(ReportRollup).where(ReportRollup.kind == kind_name,
                                               ReportRollup.day == day))
    session.execute(delete(ReportRollupDay).where(ReportRollupDay.kind == kind_name,
                                                  ReportRollupDay.day == day))
    if rows:
        session.execute(insert(ReportRollup), [
            {"kind": kind_name, "day": day, "queue_id": r.queue_id, "n": r.n,
             "total": r.total, "first_at": r.first_at,
             **{f"k{i + 1}": (r.keys[i] if i < len(r.keys) else None) for i in range(7)}}
            for r in rows])
    session.add(ReportRollupDay(kind=kind_name, day=day, rows=len(rows), done_at=utcnow()))
    session.commit()


def nearest_rank_index(p: float, n: int) -> int:
    """ceil(p * n), at least 1; rounded first so 0.9 * 10 is 9, not 9.000000000000002."""
    return max(1, math.ceil(round(p * n, 9)))


def percentile_from_counts(counts: dict[int, int], p: float) -> int | None:
    """Nearest-rank percentile of a histogram {value: count}."""
    total = sum(counts.values())
    if not total:
        return None
    rank = nearest_rank_index(p, total)
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        if seen >= rank:
            return value
    return None
