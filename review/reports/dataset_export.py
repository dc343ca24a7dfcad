"""Dataset export: a queue's decided items as training and evaluation data.

Streams from the database in chunks (a server-side cursor on PostgreSQL), so memory
stays bounded however many items a queue holds. Three shapes:

- `records`: one row per decided item: input, context, the model's output, the final
  output, outcome, reason, note, who decided, model name/version, prompt version,
  confidence, and the reviewers' agreement with the final outcome;
- `chat`: the chat fine-tuning shape, `{"messages": [system (context), user (input),
  assistant (final output)]}`, for approved and edited items (a rejected output has no
  correct answer to learn);
- `preference`: `{"prompt", "chosen", "rejected"}` for edited items: the reviewer's
  correction is chosen over the model's original.

Formats: JSON Lines (values as they were submitted), CSV and Parquet (JSON-valued
columns as JSON text, so every row has the same column types). Gold answers and purged
payloads never leave: purged items are skipped.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import IO, Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from review.core.clock import isoformat
from review.core.errors import BadArgument
from review.core.models import Item, Queue, Review

FORMATS = ("jsonl", "csv", "parquet")
SHAPES = ("records", "chat", "preference")
CHUNK = 1000
RECORD_FIELDS = (
    "id", "external_id", "queue", "model_name", "model_version", "prompt_version",
    "confidence", "input", "context", "output", "final_output", "outcome", "reason", "note",
    "decided_by", "decided_by_kind", "decided_at", "route", "reviews", "reviews_agreeing",
)
JSON_FIELDS = ("input", "context", "output", "final_output")


@dataclass(frozen=True)
class ExportRequest:
    queue: Queue
    first: date | None = None  # decided on or after this UTC day
    last: date | None = None  # ... up to and including this one
    fmt: str = "jsonl"
    shape: str = "records"


def export_request(queue: Queue, raw_from: str | None, raw_to: str | None, fmt: str | None,
                   shape: str | None) -> ExportRequest:
    """Check an export's arguments (from/to as YYYY-MM-DD, both optional). None means
    the default; an empty value is refused like any other bad one."""
    fmt = "jsonl" if fmt is None else fmt
    shape = "records" if shape is None else shape
    if fmt not in FORMATS:
        raise BadArgument("bad_format", f"format must be one of {', '.join(FORMATS)}.")
    if shape not in SHAPES:
        raise BadArgument("bad_shape", f"shape must be one of {', '.join(SHAPES)}.")
    if fmt == "parquet" and importlib.util.find_spec("pyarrow") is None:
        raise BadArgument("parquet_unavailable", "Parquet exports need pyarrow: install "
                          "the service with its datasets extra (pip install 'review[datasets]').")
    try:
        first = None if raw_from is None else date.fromisoformat(raw_from)
        last = None if raw_to is None else date.fromisoformat(raw_to)
    except ValueError as exc:
        raise BadArgument("bad_date", "from and to must be dates as YYYY-MM-DD.") from exc
    if first and last and first > last:
        raise BadArgument("bad_range", "from must not be after to.")
    return ExportRequest(queue, first, last, fmt, shape)


def _conditions(req: ExportRequest) -> list[Any]:
    where = [Item.queue_id == req.queue.id, Item.decided_at.is_not(None),
             Item.purged_at.is_(None)]
    if req.first:
        where.append(Item.decided_at >= datetime(req.first.year, req.first.month,
                                                 req.first.day))
    if req.last:
        where.append(Item.decided_at < datetime(req.last.year, req.last.month, req.last.day)
                     + timedelta(days=1))
    if req.shape == "chat":
        where.append(Item.decision_outcome.in_(("approve", "edit")))
    elif req.shape == "preference":
        where.append(Item.decision_outcome == "edit")
    return where


def count_rows(session: Session, req: ExportRequest) -> int:
    """How many rows the export will write (for a progress bar)."""
    return session.scalar(select(func.count()).select_from(Item).where(*_conditions(req))) or 0


_COLUMNS = (Item.id, Item.external_id, Item.model_name, Item.model_version,
            Item.prompt_version, Item.confidence, Item.input, Item.context, Item.output,
            Item.decision_output, Item.decision_outcome, Item.decision_reason,
            Item.decision_note, Item.decided_by, Item.decided_by_kind, Item.decided_at,
            Item.route_path)


def _final_output(item: Any) -> Any:
    if item.decision_outcome == "edit":
        return item.decision_output
    return item.output if item.decision_outcome == "approve" else None


def _records(session: Session, req: ExportRequest) -> Iterator[dict[str, Any]]:
    # Plain rows, not ORM objects: nothing piles up in the session's identity map.
    stmt = (select(*_COLUMNS).where(*_conditions(req)).order_by(Item.decided_at, Item.id)
            .execution_options(yield_per=CHUNK))
    for chunk in session.execute(stmt).partitions():
        agreement = _agreement(session, [item.id for item in chunk])
        for item in chunk:
            reviews, agreeing = agreement.get(item.id, (0, 0))
            yield {
                "id": item.id, "external_id": item.external_id, "queue": req.queue.slug,
                "model_name": item.model_name, "model_version": item.model_version,
                "prompt_version": item.prompt_version, "confidence": item.confidence,
                "input": item.input, "context": item.context or [], "output": item.output,
                "final_output": _final_output(item), "outcome": item.decision_outcome,
                "reason": item.decision_reason, "note": item.decision_note,
                "decided_by": item.decided_by, "decided_by_kind": item.decided_by_kind,
                "decided_at": isoformat(item.decided_at), "route": item.route_path,
                "reviews": reviews, "reviews_agreeing": agreeing,
            }


def _agreement(session: Session, ids: list[str]) -> dict[str, tuple[int, int]]:
    """item id -> (reviews, reviews whose outcome is the item's final one)."""
    rows = session.execute(
        select(Review.item_id, func.count(),
               func.sum(case((Review.outcome == Item.decision_outcome, 1), else_=0)))
        .join(Item, Item.id == Review.item_id)
        .where(Review.item_id.in_(ids)).group_by(Review.item_id))
    return {item_id: (n, int(agreeing or 0)) for item_id, n, agreeing in rows}


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _context_text(context: list[Any]) -> str:
    parts = []
    for n, source in enumerate(context, 1):
        text = source.get("text", source) if isinstance(source, dict) else source
        parts.append(f"[{n}] {_as_text(text)}")
    return "Context:\n" + "\n".join(parts)


def _shaped(req: ExportRequest, record: dict[str, Any]) -> dict[str, Any]:
    if req.shape == "records":
        return record
    prompt = _as_text(record["input"])
    if req.shape == "preference":
        return {"id": record["id"], "prompt": prompt, "chosen": _as_text(record["final_output"]),
                "rejected": _as_text(record["output"])}
    messages = []
    if record["context"]:
        messages.append({"role": "system", "content": _context_text(record["context"])})
    messages += [{"role": "user", "content": prompt},
                 {"role": "assistant", "content": _as_text(record["final_output"])}]
    return {"id": record["id"], "messages": messages}


def rows(session: Session, req: ExportRequest) -> Iterator[dict[str, Any]]:
    """The export's rows in its shape, oldest decision first."""
    for record in _records(session, req):
        yield _shaped(req, record)


def _flat(req: ExportRequest, row: dict[str, Any]) -> dict[str, Any]:
    """For CSV and Parquet: JSON-valued columns as JSON text."""
    if req.shape == "records":
        return {k: json.dumps(v, ensure_ascii=False) if k in JSON_FIELDS else v
                for k, v in row.items()}
    if req.shape == "chat" and req.fmt == "csv":
        return {"id": row["id"], "messages": json.dumps(row["messages"], ensure_ascii=False)}
    return row


def text_chunks(session: Session, req: ExportRequest) -> Iterator[tuple[str, int]]:
    """A JSON Lines or CSV export as (text, rows in it) pieces of up to CHUNK rows."""
    buffer = io.StringIO()
    header = {"records": RECORD_FIELDS, "chat": ("id", "messages"),
              "preference": ("id", "prompt", "chosen", "rejected")}[req.shape]
    table = csv.DictWriter(buffer, fieldnames=header)
    if req.fmt == "csv":
        table.writeheader()
    pending = 0
    for row in rows(session, req):
        if req.fmt == "csv":
            table.writerow(_flat(req, row))
        else:
            buffer.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
        pending += 1
        if pending == CHUNK:
            yield buffer.getvalue(), pending
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    if pending or buffer.tell():
        yield buffer.getvalue(), pending


def _parquet_schema(shape: str) -> Any:
    import pyarrow as pa  # here: only Parquet exports need pyarrow (the `datasets` extra)

    text, number = pa.string(), pa.float64()
    if shape == "chat":
        message = pa.struct([("role", text), ("content", text)])
        return pa.schema([("id", text), ("messages", pa.list_(message))])
    if shape == "preference":
        return pa.schema([(name, text) for name in ("id", "prompt", "chosen", "rejected")])
    types = {"confidence": number, "reviews": pa.int64(), "reviews_agreeing": pa.int64()}
    return pa.schema([(name, types.get(name, text)) for name in RECORD_FIELDS])


def write_parquet(session: Session, req: ExportRequest, out: IO[bytes],
                  progress: Callable[[int], None] | None = None) -> int:
    """Write the export as Parquet to `out`, one row group per chunk; return the rows."""
    import pyarrow as pa  # see _parquet_schema
    import pyarrow.parquet as pq  # see _parquet_schema

    schema = _parquet_schema(req.shape)
    written = 0
    with pq.ParquetWriter(out, schema) as writer:
        batch: list[dict[str, Any]] = []
        for row in rows(session, req):
            batch.append(_flat(req, row))
            if len(batch) == CHUNK:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                written += len(batch)
                if progress:
                    progress(len(batch))
                batch = []
        if batch or not written:
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))
            written += len(batch)
            if progress:
                progress(len(batch))
    return written


def write_text(session: Session, req: ExportRequest, out: IO[str],
               progress: Callable[[int], None] | None = None) -> int:
    """Write a JSON Lines or CSV export to `out`; return the rows written."""
    written = 0
    for text, n in text_chunks(session, req):
        out.write(text)
        written += n
        if progress:
            progress(n)
    return written
