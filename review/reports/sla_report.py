"""The SLA report of a queue over a date range, and its exports.

Items count by when they were decided: an item decided in the range is in
the report. Items with an SLA (a due time: those that waited for a human)
give the time-to-decision percentiles (`decided_at - created_at`, nearest-rank,
at the resolution of `rollups.duration_bucket`: 1 s below a minute, 5 s below
10 min, 30 s below an hour, 5 min below a day) and the breach rate (decided after their due time).
The figures come from daily rollups (review/reports/rollups.py) for closed days and
from the raw items for the rest; the breaches are listed from the items.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from review.core.clock import isoformat, utcnow
from review.core.errors import BadArgument
from review.core.models import Item, Queue
from review.reports.rollups import grouped, percentile_from_counts

PERCENTILES = (0.5, 0.9, 0.99)
MAX_RANGE_DAYS = 92
MIN_DATE, MAX_DATE = date(2000, 1, 1), date(9999, 1, 1)
BREACHES_SHOWN = 200
BREACH_FIELDS = ("item_id", "queue", "created_at", "due_at", "decided_at", "late_by_seconds",
                 "decided_by", "decided_by_kind", "outcome")
DAY_FIELDS = ("day", "decided", "sla_items", "breached", "breach_rate", "p50_seconds",
              "p90_seconds", "p99_seconds")


@dataclass(frozen=True)
class DateRange:
    """Whole UTC days, `first` to `last` inclusive."""

    first: date
    last: date

    @property
    def start(self) -> datetime:
        return datetime(self.first.year, self.first.month, self.first.day)

    @property
    def end(self) -> datetime:
        return datetime(self.last.year, self.last.month, self.last.day) + timedelta(days=1)

    def days(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]

    def to_dict(self) -> dict[str, str]:
        return {"from": self.first.isoformat(), "to": self.last.isoformat()}


def parse_range(raw_from: str | None, raw_to: str | None, default_days: int = 7,
                today: date | None = None) -> DateRange:
    """`from`/`to` as YYYY-MM-DD (inclusive); the last `default_days` days by default."""
    today = today or utcnow().date()
    try:
        last = date.fromisoformat(raw_to) if raw_to else today
        first = date.fromisoformat(raw_from) if raw_from else last - timedelta(
            days=default_days - 1)
    except (ValueError, OverflowError) as exc:
        raise BadArgument("bad_date", "from and to must be dates as YYYY-MM-DD.") from exc
    if not (MIN_DATE <= first and last <= MAX_DATE):
        raise BadArgument("bad_date", f"Dates must lie in {MIN_DATE} .. {MAX_DATE}.")
    if first > last:
        raise BadArgument("bad_range", "from must not be after to.")
    if (last - first).days + 1 > MAX_RANGE_DAYS:
        raise BadArgument("bad_range", f"A report covers at most {MAX_RANGE_DAYS} days.")
    return DateRange(first, last)


def _in_range(queue: Queue, span: DateRange) -> list[Any]:
    return [Item.queue_id == queue.id, Item.decided_at.is_not(None),
            Item.decided_at >= span.start, Item.decided_at < span.end]


def sla_report(session: Session, queue: Queue, span: DateRange) -> dict[str, Any]:
    """Items decided, time to decision, breach rate and the first breaches."""
    by_kind: Counter[str] = Counter()
    overall: Counter[int] = Counter()
    breached = 0
    days: dict[date, dict[str, Any]] = {
        d: {"day": d.isoformat(), "decided": 0, "sla_items": 0, "breached": 0}
        for d in span.days()}
    per_day: dict[date, Counter[int]] = {d: Counter() for d in span.days()}
    for row in grouped(session, "decided", [queue.id], span.first, span.last):
        kind, seconds, late = row.keys
        by_kind[kind or "?"] += row.n
        day = days[row.day]
        day["decided"] += row.n
        if seconds is None:
            continue
        day["sla_items"] += row.n
        overall[int(seconds)] += row.n
        per_day[row.day][int(seconds)] += row.n
        if late == "1":
            day["breached"] += row.n
            breached += row.n
    for d, row in days.items():
        row["breach_rate"] = row["breached"] / row["sla_items"] if row["sla_items"] else None
        row.update({_pkey(p): percentile_from_counts(per_day[d], p) for p in PERCENTILES})
    sla_items = sum(overall.values())
    return {
        "queue": queue.slug, "range": span.to_dict(),
        "decided": sum(by_kind.values()), "decided_by_kind": dict(by_kind),
        "sla_items": sla_items, "breached": breached,
        "breach_rate": breached / sla_items if sla_items else None,
        "time_to_decision_seconds": {_pkey(p).removesuffix("_seconds"):
                                     percentile_from_counts(overall, p) for p in PERCENTILES},
        "days": list(days.values()),
        "breaches": list(iter_breaches(session, queue, span, limit=BREACHES_SHOWN)),
    }


def _pkey(p: float) -> str:
    return f"p{round(p * 100)}_seconds"


def iter_breaches(session: Session, queue: Queue, span: DateRange,
                  limit: int | None = None) -> Iterator[dict[str, Any]]:
    """Items decided in the range after their due time, in decision order."""
    query = (select(Item.id, Item.created_at, Item.due_at, Item.decided_at, Item.decided_by,
                    Item.decided_by_kind, Item.decision_outcome)
             .where(*_in_range(queue, span), Item.due_at.is_not(None),
                    Item.decided_at > Item.due_at)
             .order_by(Item.decided_at, Item.id))
    if limit is not None:
        query = query.limit(limit)
    for row in session.execute(query):
        yield {"item_id": row.id, "queue": queue.slug, "created_at": isoformat(row.created_at),
               "due_at": isoformat(row.due_at), "decided_at": isoformat(row.decided_at),
               "late_by_seconds": round((row.decided_at - row.due_at).total_seconds(), 3),
               "decided_by": row.decided_by, "decided_by_kind": row.decided_by_kind,
               "outcome": row.decision_outcome}


def sla_report_json(session: Session, queue: Queue, span: DateRange) -> dict[str, Any]:
    """The report with every breach (the page shows the first BREACHES_SHOWN)."""
    report = sla_report(session, queue, span)
    report["breaches"] = list(iter_breaches(session, queue, span))
    return report


def csv_lines(fields: tuple[str, ...], rows: Iterator[dict[str, Any]] | list[dict[str, Any]]
              ) -> Iterator[str]:
    """CSV text, a line at a time, so a long export streams."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(fields), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def sla_csv(session: Session, queue: Queue, span: DateRange, table: str) -> Iterator[str]:
    """`table` is breaches (one row per late item) or days (one row per day)."""
    if table == "days":
        return csv_lines(DAY_FIELDS, sla_report(session, queue, span)["days"])
    if table == "breaches":
        return csv_lines(BREACH_FIELDS, iter_breaches(session, queue, span))
    raise BadArgument("bad_table", "table must be breaches or days.")
