"""Time arithmetic in SQL that differs between PostgreSQL and SQLite.

Reports bucket rows by hour or day and measure durations inside the
database, so that a million rows never travel to Python. The two dialects
spell these differently; every report builds its expressions here.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Float, cast, func, literal
from sqlalchemy.orm import Session


def dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def hour_floor(session: Session, column: Any) -> ColumnElement[Any]:
    """The start of the column's hour (a datetime on PostgreSQL, text on SQLite)."""
    if dialect(session) == "postgresql":
        return func.date_trunc("hour", column)
    return func.strftime("%Y-%m-%d %H:00:00", column)


def seconds_between(session: Session, start: Any, end: Any) -> ColumnElement[Any]:
    """`end - start` in seconds, as a float."""
    if dialect(session) == "postgresql":
        return cast(func.extract("epoch", end - start), Float)
    return (func.julianday(end) - func.julianday(start)) * literal(86400.0)


def as_datetime(value: Any) -> datetime:
    """A bucket value read back from either dialect."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    return datetime.fromisoformat(str(value))


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def hours_ending_at(now: datetime, count: int = 24) -> list[datetime]:
    """The starts of the last `count` hours, the current (partial) hour last."""
    last = floor_hour(now)
    return [last - timedelta(hours=count - 1 - i) for i in range(count)]
