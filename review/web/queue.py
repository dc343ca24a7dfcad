"""The reviewer's pages: a queue, "Next item", the review page and its actions,
plus the supervisor's item tools (assign, bulk release, bulk reassign), queue
membership and adaptive routing (rollout stage, breaker reset). The manage page
itself is in review/web/manage.py (on this blueprint).

Every route loads its queue or item through review/human/members.py, so a user
who is not a member of the queue gets 404/403 whatever URL they type. After a
decision, skip or escalation the next item is claimed at once: the reviewer
stays on the keyboard.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select
from werkzeug.wrappers import Response

from review.adaptive.breaker import reset_breaker
from review.adaptive.rollout import StageError, set_stage
from review.api.errors import status_of
from review.core.access import reviewable_item, reviewable_queue, supervised_queue
from review.core.clock import isoformat, utcnow
from review.core.db import get_session
from review.core.errors import Conflict, DomainError
from review.core.models import Queue, User
from review.core.strict_json import loads_strict
from review.human.assignment import assign, bulk_reassign, bulk_release
from review.human.claims import (
    claim_next,
    escalate,
    extend_lease,
    release,
    skip,
    skipped_waiting,
)
from review.human.comments import MAX_COMMENT, add_comment
from review.human.item_page import queue_summary, review_page
from review.human.members import parse_tags, remove_member, set_member
from review.human.verdicts import Verdict, decide_as_reviewer, parse_edited_output
from review.reports.overview import queue_overview
from review.web.reading import confidence_bar, labelled_fields, output_view, route_sentence

bp = Blueprint("queue", __name__)

T = TypeVar("T")
DONE = {"approve": "Approved", "reject": "Rejected", "edit": "Edited and approved"}


def _or_abort(func: Callable[..., T], *args: Any) -> T:
    """Run a lookup; its 403/404 becomes the HTML error page."""
    try:
        return func(*args)
    except DomainError as exc:
        abort(status_of(exc))


def _me() -> User:
    return current_user.user


def _next_item(queue: Queue, exclude: tuple[str, ...] = ()) -> Response:
    """Claim the next item and show it, or go back to the queue page when it is empty."""
    claim = claim_next(get_session(), _me(), queue, exclude=exclude)
    if claim is None:
        skipped, back_in = skipped_waiting(get_session(), _me(), queue)
        if skipped:
            flash(f"Nothing waiting for you in this queue but {skipped} item"
                  f"{'s' if skipped != 1 else ''} you skipped; the first comes back to you in "
                  f"{max(1, round(back_in / 60))} min.", "info")
        else:
            flash("Nothing waiting for you in this queue.", "info")
        return redirect(url_for("queue.queue_page", slug=queue.slug))
    return redirect(url_for("queue.item_page", item_id=claim.item.id))


@bp.get("/queues/<slug>")
@login_required
def queue_page(slug: str):
    session = get_session()
    queue = _or_abort(reviewable_queue, session, _me(), slug)
    others = [q for q in queue_overview(session, _me().id, _me().role)
              if q["slug"] != slug and q["pending"]]
    return render_template("queue/queue.html", summary=queue_summary(session, _me(), queue),
                           other_queues=others)


@bp.post("/queues/<slug>/next")
@login_required
def next_item(slug: str):
    return _next_item(_or_abort(reviewable_queue, get_session(), _me(), slug))


@bp.get("/items/<item_id>")
@login_required
def item_page(item_id: str):
    item = _or_abort(reviewable_item, get_session(), _me(), item_id)
    page = review_page(get_session(), _me(), item)
    return render_template("queue/item.html", **page, output=output_view(item, item.queue),
                           input_fields=labelled_fields(item.input),
                           meta_fields=labelled_fields(page["metadata"]),
                           route=route_sentence(item), bar=confidence_bar(item, item.queue),
                           max_comment=MAX_COMMENT)


@bp.get("/items/<item_id>/lease")
@login_required
def lease_status(item_id: str):
    """Does the page's lease still hold? Polled every few seconds, on focus and before every
    action, so a reassignment or release by a supervisor shows at once. One indexed read."""
    item = reviewable_item(get_session(), _me(), item_id)
    token = request.args.get("token", "")[:64]
    now = utcnow()
    held = (item.status == "in_review" and item.claimed_by == _me().id and bool(token)
            and item.lease_token == token and item.lease_expires_at is not None
            and item.lease_expires_at > now)
    get_session().rollback()
    return jsonify({"item_id": item.id, "held": held, "status": item.status,
                    "lease_expires_at": isoformat(item.lease_expires_at) if held else None})


def _verdict_from_form(item_id: str) -> Verdict:
    form = request.form
    outcome = form.get("outcome", "")
    output = None
    if outcome == "edit":
        item = reviewable_item(get_session(), _me(), item_id)
        raw = form.get("output", "")
        if isinstance(item.output, str):
            output = parse_edited_output(item.output, raw)
        else:
            # The API's parser, so the form takes exactly what POST .../decision takes.
            output = loads_strict(raw, what="The edited output")
    return Verdict(outcome, form.get("reason"), form.get("note"), output)


@bp.post("/items/<item_id>/decide")
@login_required
def decide(item_id: str):
    session = get_session()
    item = _or_abort(reviewable_item, session, _me(), item_id)
    queue = item.queue
    try:
        result = decide_as_reviewer(session, item_id, _me(), request.form.get("lease_token"),
                                    _verdict_from_form(item_id))
    except DomainError as exc:
        flash(exc.message, "error")
        if isinstance(exc, Conflict):  # the item is gone from this reviewer: on with the queue
            return redirect(url_for("queue.queue_page", slug=queue.slug))
        return redirect(url_for("queue.item_page", item_id=item_id))
    if result.escalated:
        flash(f"Reviewers disagreed on {item_id}: escalated to a supervisor.", "info")
    elif not result.final:
        flash(f"Review {result.reviews} of {result.required} recorded for {item_id}.", "info")
    else:
        flash(f"{DONE[result.item.decision_outcome]} {item_id}.", "info")
    return _next_item(queue)


def _lease_action(item_id: str, action: Callable[..., Any], message: str, *args: Any) -> Response:
    session = get_session()
    item = _or_abort(reviewable_item, session, _me(), item_id)
    queue = item.queue
    try:
        action(session, _me(), item, request.form.get("lease_token", ""), *args)
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect(url_for("queue.queue_page", slug=queue.slug))
    flash(message.format(item_id=item_id), "info")
    return _next_item(queue, exclude=(item_id,))


@bp.post("/items/<item_id>/release")
@login_required
def release_item(item_id: str):
    return _lease_action(item_id, skip, "Skipped {item_id}: others can take it; it stays away "
                         "from you for a while.")


@bp.post("/items/<item_id>/stop")
@login_required
def release_and_stop(item_id: str):
    """Release the held item (others may take it, and so may you later) and stop reviewing."""
    session = get_session()
    item = _or_abort(reviewable_item, session, _me(), item_id)
    slug = item.queue.slug
    try:
        release(session, _me(), item, request.form.get("lease_token", ""), "released to stop")
        flash(f"Released {item_id}. You hold nothing in this queue now.", "info")
    except DomainError as exc:
        flash(exc.message, "error")
    return redirect(url_for("queue.queue_page", slug=slug))


@bp.post("/items/<item_id>/comments")
@login_required
def comment_on_item(item_id: str):
    """Add to the item's comment thread; back to the item (held or not, the page shows)."""
    try:
        add_comment(get_session(), _me(), item_id, request.form.get("body", ""))
    except DomainError as exc:
        if status_of(exc) == 404:
            abort(404)
        flash(exc.message, "error")
    return redirect(url_for("queue.item_page", item_id=item_id, _anchor="comments"))


@bp.post("/items/<item_id>/escalate")
@login_required
def escalate_item(item_id: str):
    note = (request.form.get("note") or "").strip()[:5000] or None
    return _lease_action(item_id, escalate, "Escalated {item_id} to a supervisor.", note)


@bp.post("/items/<item_id>/lease")
@login_required
def heartbeat(item_id: str):
    """The review page's heartbeat (JSON, CSRF token in the X-CSRFToken header)."""
    session = get_session()
    item = reviewable_item(session, _me(), item_id)
    expires = extend_lease(session, _me(), item, _heartbeat_token())
    return jsonify({"item_id": item.id, "lease_expires_at": isoformat(expires)})


def _heartbeat_token() -> str:
    """The lease token from the form or a JSON body, read by the API's strict parser (a
    lone surrogate would otherwise reach the database and fail there)."""
    token = request.form.get("lease_token")
    if not token and request.is_json:
        body = loads_strict(request.get_data(as_text=True))
        token = body.get("lease_token") if isinstance(body, dict) else None
    return str(token or "")


# --- Supervisor tools ------------------------------------------------------------


def _supervised(slug: str) -> Queue:
    return _or_abort(supervised_queue, get_session(), _me(), slug)


@bp.post("/queues/<slug>/manage/rollout")
@login_required
def set_rollout(slug: str):
    queue = _supervised(slug)
    session = get_session()
    stage = request.form.get("stage", "")
    try:
        changed = set_stage(session, queue, stage, _me().name,
                            (request.form.get("note") or "").strip()[:2000])
    except StageError as exc:
        flash(str(exc), "error")
        return redirect(url_for("queue.manage", slug=slug))
    flash(f"Rollout stage set to {stage}." if changed else f"The queue is already at {stage}.",
          "info")
    return redirect(url_for("queue.manage", slug=slug))


@bp.post("/queues/<slug>/manage/breaker/reset")
@login_required
def reset_queue_breaker(slug: str):
    queue = _supervised(slug)
    session = get_session()
    if reset_breaker(session, queue, _me().name, (request.form.get("note") or "").strip()[:2000]):
        flash("Circuit breaker reset: automatic routing resumes.", "info")
    else:
        flash("The circuit breaker is not open.", "error")
    return redirect(url_for("queue.manage", slug=slug))


def _user_named(name: str) -> User | None:
    if not name:
        return None
    user = get_session().scalar(select(User).where(User.name == name))
    if user is None:
        abort(400)
    return user


@bp.post("/queues/<slug>/manage/items")
@login_required
def manage_items(slug: str):
    queue = _supervised(slug)
    session = get_session()
    ids = request.form.getlist("item")
    action = request.form.get("action")
    try:
        if action == "release":
            done = bulk_release(session, _me(), queue, ids)
            flash(f"Released {len(done)} of {len(ids)} selected items.", "info")
        elif action == "reassign":
            reviewer = _user_named(request.form.get("reviewer", ""))
            done = bulk_reassign(session, _me(), queue, ids, reviewer)
            who = reviewer.name if reviewer else "nobody"
            flash(f"Assigned {len(done)} of {len(ids)} selected items to {who}.", "info")
        else:
            abort(400)
    except DomainError as exc:
        flash(exc.message, "error")
    return redirect(url_for("queue.manage", slug=slug))


@bp.post("/items/<item_id>/assign")
@login_required
def assign_item(item_id: str):
    session = get_session()
    item = _or_abort(reviewable_item, session, _me(), item_id)
    _supervised(item.queue.slug)
    try:
        assign(session, _me(), item, _user_named(request.form.get("reviewer", "")))
        flash(f"Assignment of {item_id} saved.", "info")
    except DomainError as exc:
        flash(exc.message, "error")
    return redirect(url_for("queue.item_page", item_id=item_id))


@bp.post("/queues/<slug>/manage/members")
@login_required
def add_member(slug: str):
    queue = _supervised(slug)
    name = (request.form.get("name") or "").strip()
    try:
        set_member(get_session(), _me().name, queue, name, parse_tags(request.form.get("tags", "")))
        flash(f"{name} is a member of {queue.slug}.", "info")
    except DomainError as exc:
        flash(exc.message, "error")
    return redirect(url_for("queue.manage", slug=slug))


@bp.post("/queues/<slug>/manage/members/<int:user_id>/remove")
@login_required
def drop_member(slug: str, user_id: int):
    queue = _supervised(slug)
    if remove_member(get_session(), _me().name, queue, user_id):
        flash("Member removed; items they held are back in the queue.", "info")
    return redirect(url_for("queue.manage", slug=slug))
