"""A queue's policy and adaptive-routing state; supervisors set the rollout stage and
reset the circuit breaker.

Admin keys see and change every queue. A review key acts as its user: a member may
read the queue's state (unknown queue 404, not a member 403, as on the reviewer
routes); changing it also needs the user to supervise the queue (admin users, or
supervisors who are members of it).
"""

from __future__ import annotations

from typing import Any

from flask import jsonify, request

from review.adaptive.breaker import reset_breaker
from review.adaptive.learning import queue_state
from review.adaptive.rollout import StageError, set_stage
from review.adaptive.thresholds import ROLLOUT_STAGES
from review.api.blueprint import bp
from review.api.body import json_object
from review.api.errors import ApiError
from review.api.keys import current_key, require_key
from review.api.openapi import COMPONENTS, PATHS, json_content, operation, path_param, ref
from review.core.access import can_supervise, reviewable_queue
from review.core.db import get_session
from review.core.models import Queue
from review.core.queues import queue_by_slug
from review.intake.schemas import validation_errors

NOTE = {"type": "string", "maxLength": 2000, "description": "Why; kept in the audit trail."}
ROLLOUT_IN: dict[str, Any] = {"type": "object", "additionalProperties": False,
                              "required": ["stage"],
                              "properties": {"stage": {"enum": list(ROLLOUT_STAGES)},
                                             "note": NOTE}}
BREAKER_RESET_IN: dict[str, Any] = {"type": "object", "additionalProperties": False,
                                    "properties": {"note": NOTE}}


def _queue(slug: str, *, change: bool) -> Queue:
    session, key = get_session(), current_key()
    if key.scope == "admin":
        queue = queue_by_slug(session, slug)
        if queue is None:
            raise ApiError(404, "queue_not_found", f"No queue {slug!r}.")
        return queue
    if key.user is None:
        raise ApiError(403, "not_a_reviewer_key", "This review key belongs to no user.")
    queue = reviewable_queue(session, key.user, slug)
    if change and not can_supervise(session, key.user, queue.id):
        raise ApiError(403, "not_a_supervisor",
                       f"Only an admin or a supervisor of queue {slug!r} may change it.")
    return queue


def _actor() -> str:
    key = current_key()
    return key.user.name if key.user is not None else f"api:{key.name}"


def _body(schema: dict[str, Any], optional: bool = False) -> dict[str, Any]:
    if optional and not request.get_data(cache=True):
        return {}
    body = json_object()
    stage = body.get("stage")
    if "stage" in schema["properties"] and isinstance(stage, str) \
            and stage not in ROLLOUT_STAGES:
        # Say which stages exist rather than a bare schema complaint.
        raise ApiError(422, "unknown_stage", f"Unknown rollout stage {stage[:40]!r}; "
                       f"expected one of {', '.join(ROLLOUT_STAGES)}.")
    problems = validation_errors(schema, body)
    if problems:
        raise ApiError(422, "validation_failed", "The request body is invalid.", problems)
    return body


@bp.get("/queues/<slug>")
@require_key("admin", "review")
def queue_show(slug: str):
    return jsonify(queue_state(get_session(), _queue(slug, change=False)))


@bp.post("/queues/<slug>/rollout")
@require_key("admin", "review")
def queue_rollout(slug: str):
    body = _body(ROLLOUT_IN)
    queue = _queue(slug, change=True)
    session = get_session()
    try:
        set_stage(session, queue, body["stage"], _actor(), body.get("note", ""))
    except StageError as exc:  # the body check above already refuses these
        raise ApiError(422, "unknown_stage", str(exc)) from exc
    return jsonify(queue_state(session, queue))


@bp.post("/queues/<slug>/breaker/reset")
@require_key("admin", "review")
def queue_breaker_reset(slug: str):
    body = _body(BREAKER_RESET_IN, optional=True)
    queue = _queue(slug, change=True)
    session = get_session()
    if not reset_breaker(session, queue, _actor(), body.get("note", "")):
        raise ApiError(409, "breaker_not_open",
                       f"The circuit breaker of queue {slug!r} is not open.")
    return jsonify(queue_state(session, queue))


_STATE = {"type": "object", "required": ["slug", "name", "adaptive"], "properties": {
    "slug": {"type": "string"}, "name": {"type": "string"},
    "max_error_rate": {"type": ["number", "null"]},
    "adaptive": {"type": "object", "required": ["rollout_stage", "breaker", "versions"],
                 "properties": {
                     "rollout_stage": {"enum": list(ROLLOUT_STAGES)},
                     "breaker": {"type": "object", "required": ["open"],
                                 "properties": {"open": {"type": "boolean"}}},
                     "versions": {"type": "array", "items": {"type": "object"}},
                     "history": {"type": "array", "items": {
                         "type": "object", "required": ["at", "by", "changes"]}}}}}}
COMPONENTS["schemas"].update({"QueueState": _STATE, "RolloutIn": ROLLOUT_IN,
                              "BreakerResetIn": BREAKER_RESET_IN})
_OK = {"200": {"description": "The queue's policy and adaptive state",
               **json_content(ref("QueueState"))}}
_CHANGE_ERRORS = (400, 401, 403, 404, 415, 422, 429)

PATHS.update({
    "/api/v1/queues/{slug}": {"get": operation(
        "A queue's policy, rollout stage, breaker and learned thresholds per version",
        scope="review", params=[path_param("slug")], ok=_OK)},
    "/api/v1/queues/{slug}/rollout": {"post": operation(
        "Set the rollout stage (admin key, or review key of a supervisor of the queue)",
        scope="review", body="RolloutIn", params=[path_param("slug")], ok=_OK,
        errs=_CHANGE_ERRORS)},
    "/api/v1/queues/{slug}/breaker/reset": {"post": operation(
        "Close an open circuit breaker (admin key, or review key of a supervisor of the "
        "queue); 409 when it is not open", scope="review", body="BreakerResetIn",
        params=[path_param("slug")], ok=_OK, errs=(*_CHANGE_ERRORS, 409))},
})
PATHS["/api/v1/queues/{slug}/breaker/reset"]["post"]["requestBody"]["required"] = False
