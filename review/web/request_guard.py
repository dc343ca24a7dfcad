"""Refuse NUL characters anywhere in a request's URL or form fields.

PostgreSQL text and JSONB cannot hold U+0000, so a NUL reaching a query
parameter raises a driver DataError (a 500) there while SQLite would accept
it. Refusing it up front gives every database the same clear 400. JSON
bodies are checked by review/api/body.py as they are parsed.
"""

from __future__ import annotations

from flask import Flask, request
from werkzeug.exceptions import BadRequest

NUL = "\x00"


def _has_nul(pairs) -> bool:  # noqa: ANN001 - a MultiDict's items
    return any(NUL in key or NUL in value for key, value in pairs)


def refuse_nul() -> None:
    if NUL in request.path or _has_nul(request.args.items(multi=True)):
        raise BadRequest("The URL contains a NUL character (U+0000), which is not allowed.")
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data") \
            and _has_nul(request.form.items(multi=True)):
        raise BadRequest("A form field contains a NUL character (U+0000), which is not allowed.")


def init_request_guard(app: Flask) -> None:
    app.before_request(refuse_nul)
