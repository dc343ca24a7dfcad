"""Dataset export over the API (admin keys): a queue's decided items, streamed."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator

from flask import Response, request, stream_with_context
from sqlalchemy.orm import Session

from review.api.blueprint import bp
from review.api.keys import require_key
from review.api.openapi import PATHS, operation, query_param
from review.core.access import report_queue
from review.core.db import close_after, get_reports_session
from review.reports.dataset_export import (
    FORMATS,
    SHAPES,
    ExportRequest,
    export_request,
    text_chunks,
    write_parquet,
)

_MIMETYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv",
              "parquet": "application/vnd.apache.parquet"}


@bp.get("/exports/dataset")
@require_key("admin")
def export_dataset():
    session = get_reports_session()
    args = request.args
    req = export_request(report_queue(session, None, args.get("queue") or None),
                         args.get("from"), args.get("to"), args.get("format"),
                         args.get("shape"))
    filename = f"{req.queue.slug}-{req.shape}.{req.fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if req.fmt == "parquet":
        body = _parquet(session, req)
    else:
        body = (text for text, _rows in text_chunks(session, req))
    return Response(stream_with_context(close_after(session, body)),
                    mimetype=_MIMETYPES[req.fmt], headers=headers)


def _parquet(session: Session, req: ExportRequest) -> Iterator[bytes]:
    # Parquet's footer comes last, so the file is built first: on disk past 16 MiB,
    # keeping memory bounded.
    with tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024) as spool:
        write_parquet(session, req, spool)
        spool.seek(0)
        while block := spool.read(256 * 1024):
            yield block


PATHS["/api/v1/exports/dataset"] = {"get": operation(
    "Export a queue's decided items as a dataset (JSON Lines, CSV or Parquet; records, "
    "chat fine-tuning messages, or preference pairs), streamed",
    scope="admin",
    params=[{**query_param("queue", {"type": "string"}, "The queue's slug; default: the "
                           "first queue."), "required": False},
            query_param("from", {"type": "string", "format": "date"},
                        "Decided on or after this UTC day."),
            query_param("to", {"type": "string", "format": "date"},
                        "Decided up to and including this UTC day."),
            query_param("format", {"enum": list(FORMATS)}, "Default jsonl."),
            query_param("shape", {"enum": list(SHAPES)}, "Default records.")],
    ok={"200": {"description": "The dataset, streamed", "content": {
        mimetype: {"schema": {"type": "string"}} for mimetype in _MIMETYPES.values()}}},
    errs=(400, 401, 403, 404, 429))}
