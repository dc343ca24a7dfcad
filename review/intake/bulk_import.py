"""Bulk import of items from JSON lines through the normal ingest path.

Each line is one item exactly as `POST /api/v1/items` takes it; lines go
through `review.intake.ingest.submit_batch` in chunks of 500, so validation,
routing, idempotency (`external_id`), audit events and check jobs are the
same as over HTTP. A re-run of the same file replays instead of duplicating
(for lines with an external_id).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from review.intake.ingest import submit_batch

CHUNK = 500
MAX_REPORTED_ERRORS = 20


@dataclass
class ImportSummary:
    lines: int = 0
    created: int = 0
    replayed: int = 0
    errors: int = 0
    # (line number, code, message) of the first MAX_REPORTED_ERRORS failures
    first_errors: list[tuple[int, str, str]] = field(default_factory=list)

    def error(self, line: int, code: str, message: str) -> None:
        self.errors += 1
        if len(self.first_errors) < MAX_REPORTED_ERRORS:
            self.first_errors.append((line, code, message))


def _parse(text: str, default_queue: str | None) -> Any:
    payload = json.loads(text)
    if isinstance(payload, dict) and default_queue and "queue" not in payload:
        payload["queue"] = default_queue
    return payload


def import_lines(session: Session, lines: Iterable[str], submitter: str, *,
                 default_queue: str | None = None, chunk: int = CHUNK,
                 progress: Callable[[int], None] | None = None) -> ImportSummary:
    """Submit every non-blank line; `progress(n)` after each chunk of n lines."""
    summary = ImportSummary()
    pending: list[tuple[int, Any]] = []

    def flush() -> None:
        if not pending:
            return
        results = submit_batch(session, [payload for _n, payload in pending], submitter)
        for result in results:
            number = pending[result["index"]][0]
            if result["result"] == "error":
                summary.error(number, result["error"].code, result["error"].message)
            else:
                setattr(summary, result["result"], getattr(summary, result["result"]) + 1)
        if progress:
            progress(len(pending))
        pending.clear()

    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        summary.lines += 1
        try:
            pending.append((number, _parse(text, default_queue)))
        except ValueError as exc:
            summary.error(number, "invalid_json", str(exc))
            if progress:
                progress(1)
            continue
        if len(pending) >= chunk:
            flush()
    flush()
    return summary
