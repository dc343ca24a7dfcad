"""Pages every signed-in user sees."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user, login_required

from review.core.db import get_session
from review.reports.overview import queue_overview

bp = Blueprint("pages", __name__)


@bp.get("/")
@login_required
def home():
    queues = queue_overview(get_session(), current_user.user.id, current_user.user.role)
    return render_template("home.html", queues=queues)
