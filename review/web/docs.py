"""The API reference at /api/docs: the OpenAPI document rendered server-side.

Public like /api/v1/openapi.json; no scripts, no CDN, so the strict CSP holds.
"""

from __future__ import annotations

import re

from flask import Blueprint, render_template, request
from markupsafe import Markup, escape

from review.api.openapi import document
from review.web.apidocs import build_docs

bp = Blueprint("docs", __name__)


@bp.app_template_filter("inline_code")
def inline_code(text: str) -> Markup:
    """Escape, then show the document's `backticked` words as code."""
    # Safe as markup: the text is escaped first; only our own <code> tags are added.
    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", str(escape(text))))  # nosec B704


@bp.get("/api/docs")
def api_docs():
    return render_template("api_docs.html", docs=build_docs(document()),
                           base_url=request.host_url.rstrip("/"))
