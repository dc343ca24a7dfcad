"""The JSON API, version 1."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

# Routes register on import.
from review.api import items, openapi, queues, reports, review, webhooks  # noqa: E402,F401
