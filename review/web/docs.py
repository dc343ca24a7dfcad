"""The API reference at /api/docs: Swagger UI on the app's own OpenAPI document.

Swagger UI's files come from the `swagger-ui-py` package installed beside the app and
are served from here (never a CDN), so the page works offline and its "Try it out"
console calls this same origin (the document's server is "/"). The curl and Python
client samples of each operation (review/web/apidocs.py) ride in the page as JSON and
a small Swagger UI plugin (review/static/api_docs.js) shows them in each operation.
Public like /api/v1/openapi.json; no inline script, so the strict CSP holds.
"""

from __future__ import annotations

from pathlib import Path

import swagger_ui
from flask import Blueprint, Response, abort, render_template, request, send_from_directory

from review.api.openapi import document
from review.web.apidocs import code_samples

bp = Blueprint("docs", __name__)

SWAGGER_UI_DIR = Path(swagger_ui.__file__).resolve().parent / "static"
# The only files the page loads; nothing else of the package is served.
SWAGGER_UI_FILES = frozenset({"swagger-ui-bundle.js", "swagger-ui.css"})


@bp.get("/api/docs")
def api_docs() -> str:
    return render_template("api_docs.html", samples=code_samples(document()),
                           base_url=request.host_url.rstrip("/"))


@bp.get("/api/docs/swagger-ui/<name>")
def swagger_ui_file(name: str) -> Response:
    if name not in SWAGGER_UI_FILES:
        abort(404)
    return send_from_directory(SWAGGER_UI_DIR, name, max_age=3600)
