"""The supervisor's manage page of one queue: Items (filtered, sorted, paged, with bulk
release and assignment, open and take), Members, Policy and Adaptive routing tabs.

The routes live on the queue blueprint (endpoints `queue.manage`, `queue.take_item`) so
the supervisor tools' redirects in review/web/queue.py keep their names; this module
must be imported before that blueprint is registered (review/web/__init__.py does).
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from review.adaptive.learning import adaptive_state
from review.adaptive.thresholds import ROLLOUT_STAGES
from review.core.access import reviewable_item
from review.core.db import get_session
from review.core.errors import DomainError
from review.human.item_page import manage_page
from review.human.take import take_item
from review.reports.item_list import (
    ROUTE_FILTERS,
    SLA_FILTERS,
    SORTS,
    STATUS_FILTERS,
    ItemFilter,
    item_list,
)
from review.reports.policy_view import policy_summary
from review.web.queue import _or_abort, _supervised, bp

TABS = ("items", "members", "policy", "adaptive")


def _tab(slug: str) -> str:
    """The tab asked for; after a form of this page redirects back here (the tools in
    review/web/queue.py redirect to the bare page), the tab the form was on."""
    tab = request.args.get("tab")
    if tab is None and request.referrer:
        came_from = urlsplit(request.referrer)
        if came_from.path == url_for("queue.manage", slug=slug):
            tab = parse_qs(came_from.query).get("tab", [None])[0]
    return tab if tab in TABS else "items"


@bp.get("/queues/<slug>/manage")
@login_required
def manage(slug: str):
    queue = _supervised(slug)
    session = get_session()
    tab = _tab(slug)
    chosen = ItemFilter.from_args(request.args)
    adaptive = adaptive_state(session, queue)
    no_threshold = not any(v.get("threshold") is not None for v in adaptive.get("versions", []))
    return render_template(
        "queue/manage.html", **manage_page(session, queue), tab=tab,
        items=item_list(session, queue, chosen), adaptive=adaptive, stages=ROLLOUT_STAGES,
        no_threshold=no_threshold, policy=policy_summary(queue),
        status_filters=list(STATUS_FILTERS), sla_filters=SLA_FILTERS,
        route_filters=ROUTE_FILTERS, sorts=list(SORTS))


@bp.post("/queues/<slug>/manage/items/<item_id>/take")
@login_required
def take_item_now(slug: str, item_id: str) -> Response:
    queue = _supervised(slug)
    session = get_session()
    item = _or_abort(reviewable_item, session, current_user.user, item_id)
    if item.queue_id != queue.id:
        flash("That item is not in this queue.", "error")
        return redirect(url_for("queue.manage", slug=slug))
    try:
        take_item(session, current_user.user, item)
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect(url_for("queue.manage", slug=slug, **request.args))
    flash(f"You hold item {item_id} now.", "info")
    return redirect(url_for("queue.item_page", item_id=item_id))
