"""The API's blueprint, on which every route module of review/api registers."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")
