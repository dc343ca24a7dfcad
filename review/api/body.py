"""Strict JSON request bodies: the right content type, valid UTF-8, then the strict
parser every edge shares (review/core/strict_json.py): finite numbers, bounded
nesting, no NUL, no lone UTF-16 surrogate in a string or key."""

from __future__ import annotations

from typing import Any

from flask import request
from werkzeug.exceptions import RequestEntityTooLarge

from review.api.errors import ApiError
from review.core.errors import BadArgument
from review.core.strict_json import MAX_DEPTH, loads_strict, refuse_unencodable

__all__ = ["MAX_DEPTH", "json_body", "json_object", "json_batch"]


def json_body(*, check_characters: bool = True) -> Any:
    mimetype = request.mimetype or ""
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise ApiError(415, "unsupported_media_type",
                       "Send the body as JSON with 'Content-Type: application/json'.")
    raw = request.get_data(cache=True)
    _refuse_cut_off(len(raw))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, "invalid_utf8", f"The body is not valid UTF-8: {exc.reason} "
                       f"at byte {exc.start}.") from exc
    try:
        return loads_strict(text, check_characters=check_characters)
    except BadArgument as exc:
        raise _api_error(exc) from exc


def json_object(*, check_characters: bool = True) -> dict[str, Any]:
    body = json_body(check_characters=check_characters)
    if not isinstance(body, dict):
        raise ApiError(400, "not_an_object", "The body must be a JSON object.")
    return body


def json_batch(field: str) -> tuple[dict[str, Any], dict[int, dict[str, Any]]]:
    """A batch body: an entry of `body[field]` holding a string UTF-8 cannot encode
    is refused alone (its error entry, by index, to merge into the results);
    anywhere else such a string refuses the whole body, as any other route does."""
    body = json_object(check_characters=False)
    entries = body.get(field)
    try:
        refuse_unencodable({k: v for k, v in body.items() if k != field})
        if not isinstance(entries, list):
            refuse_unencodable(entries, f"$.{field}")
            return body, {}
    except BadArgument as exc:
        raise _api_error(exc) from exc
    refused: dict[int, dict[str, Any]] = {}
    for index, entry in enumerate(entries):
        try:
            refuse_unencodable(entry, f"$.{field}[{index}]", what="The entry")
        except BadArgument as exc:
            # The shape of a refused batch entry (review.api.errors.batch_entry gives it
            # its status and JSON error).
            refused[index] = {"index": index, "result": "error", "error": exc}
    return body, refused


def _refuse_cut_off(read: int) -> None:
    """A chunked body (no Content-Length) over MAX_CONTENT_LENGTH: Werkzeug's limited
    stream stops reading at the limit without a word, and the cut-off body would be
    parsed as truncated JSON (a 400 invalid_json). One more byte from the server's
    stream tells a body exactly at the limit from one past it: the latter is a 413."""
    limit = request.max_content_length
    if request.content_length is not None or limit is None or read < limit:
        return
    if request.environ["wsgi.input"].read(1):
        raise RequestEntityTooLarge()


def _api_error(exc: BadArgument) -> ApiError:
    return ApiError(400, exc.code, exc.message, exc.details)
