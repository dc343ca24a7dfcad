"""The reviewer API: claim, decide, release, extend, escalate.

Authorised by a review-scope key; the key's user is the reviewer, and every
route checks that user's queue membership (review/human/members.py).
"""

from __future__ import annotations

from typing import Any

from flask import jsonify

from review.api.blueprint import bp
from review.api.body import json_object
from review.api.errors import ApiError
from review.api.keys import current_key, require_key
from review.api.openapi import COMPONENTS, PATHS, json_content, operation, path_param, ref
from review.core.access import reviewable_item, reviewable_queue
from review.core.db import get_session
from review.core.items import item_to_dict
from review.core.models import User
from review.human.claims import Claim, claim_next, escalate, extend_lease, release
from review.human.verdicts import Verdict, decide_as_reviewer
from review.intake.schemas import DECISION_IN, validation_errors

LEASE_TOKEN = {"type": "string", "minLength": 1, "maxLength": 64,
               "description": "The token the claim answered with."}
REVIEW_DECISION_IN: dict[str, Any] = {**DECISION_IN, "required": ["outcome", "lease_token"],
                                      "properties": {**DECISION_IN["properties"],
                                                     "lease_token": LEASE_TOKEN}}
LEASE_IN: dict[str, Any] = {"type": "object", "additionalProperties": False,
                            "required": ["lease_token"], "properties": {"lease_token": LEASE_TOKEN}}
ESCALATE_IN: dict[str, Any] = {"type": "object", "additionalProperties": False,
                               "required": ["lease_token"],
                               "properties": {"lease_token": LEASE_TOKEN,
                                              "note": {"type": "string", "maxLength": 5000}}}


def _reviewer() -> User:
    user = current_key().user
    if user is None:
        raise ApiError(403, "not_a_reviewer_key",
                       "This key belongs to no user; reviewing needs a review key of a user.")
    return user


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    body = json_object()
    problems = validation_errors(schema, body)
    if problems:
        raise ApiError(422, "validation_failed", "The request body is invalid.", problems)
    return body


def claim_to_dict(claim: Claim) -> dict[str, Any]:
    return {"item": item_to_dict(claim.item), "lease": claim.lease_to_dict(),
            "renewed": claim.renewed}


@bp.post("/queues/<slug>/claim")
@require_key("review")
def claim_item(slug: str):
    session, user = get_session(), _reviewer()
    claim = claim_next(session, user, reviewable_queue(session, user, slug))
    if claim is None:
        return "", 204
    return jsonify(claim_to_dict(claim))


@bp.post("/items/<item_id>/decision")
@require_key("review")
def decide_item(item_id: str):
    body = _body(REVIEW_DECISION_IN)
    verdict = Verdict(body["outcome"], body.get("reason"), body.get("note"), body.get("output"))
    result = decide_as_reviewer(get_session(), item_id, _reviewer(), body["lease_token"],
                                verdict)
    return jsonify({"item": item_to_dict(result.item), "result": result.to_dict()})


@bp.post("/items/<item_id>/release")
@require_key("review")
def release_item(item_id: str):
    body = _body(LEASE_IN)
    session, user = get_session(), _reviewer()
    item = release(session, user, reviewable_item(session, user, item_id), body["lease_token"])
    return jsonify({"item": item_to_dict(item)})


@bp.post("/items/<item_id>/lease")
@require_key("review")
def extend_item_lease(item_id: str):
    body = _body(LEASE_IN)
    session, user = get_session(), _reviewer()
    item = reviewable_item(session, user, item_id)
    expires = extend_lease(session, user, item, body["lease_token"])
    return jsonify({"item_id": item.id, "lease": Claim(item, body["lease_token"],
                                                       expires).lease_to_dict()})


@bp.post("/items/<item_id>/escalate")
@require_key("review")
def escalate_item(item_id: str):
    body = _body(ESCALATE_IN)
    session, user = get_session(), _reviewer()
    item = escalate(session, user, reviewable_item(session, user, item_id),
                    body["lease_token"], body.get("note"))
    return jsonify({"item": item_to_dict(item)})


# --- OpenAPI ---------------------------------------------------------------------

_LEASE = {"type": "object", "required": ["token", "expires_at"],
          "properties": {"token": {"type": "string"}, "expires_at": {"type": "string"}}}
_ITEM_OUT = {"type": "object", "required": ["item"], "properties": {"item": ref("Item")}}
COMPONENTS["schemas"].update({
    "ReviewDecisionIn": REVIEW_DECISION_IN, "LeaseIn": LEASE_IN, "EscalateIn": ESCALATE_IN,
    "Claim": {"type": "object", "required": ["item", "lease"], "properties": {
        "item": ref("Item"), "lease": _LEASE, "renewed": {"type": "boolean"}}},
    "ReviewDecisionOut": {"type": "object", "required": ["item", "result"], "properties": {
        "item": ref("Item"), "result": {"type": "object", "properties": {
            "final": {"type": "boolean"}, "escalated": {"type": "boolean"},
            "reviews": {"type": "integer"}, "required": {"type": "integer"}}}}},
})
_ERRS = (400, 401, 403, 404, 409, 415, 422, 503)
_ID = [path_param("item_id")]
PATHS.update({
    "/api/v1/queues/{slug}/claim": {"post": operation(
        "Claim the next item of a queue (or the one you hold) with a lease", scope="review",
        params=[path_param("slug")], errs=(401, 403, 404, 503),
        ok={"200": {"description": "Claimed", **json_content(ref("Claim"))},
            "204": {"description": "Nothing waiting for you in this queue"}})},
    "/api/v1/items/{item_id}/decision": {"post": operation(
        "Decide the item you hold: approve, reject (with a reason) or edit", scope="review",
        body="ReviewDecisionIn", params=_ID, errs=_ERRS,
        ok={"200": {"description": "Recorded", **json_content(ref("ReviewDecisionOut"))}})},
    "/api/v1/items/{item_id}/release": {"post": operation(
        "Give the item you hold back to the queue", scope="review", body="LeaseIn",
        params=_ID, errs=_ERRS,
        ok={"200": {"description": "Released", **json_content(_ITEM_OUT)}})},
    "/api/v1/items/{item_id}/lease": {"post": operation(
        "Extend your lease on the item you hold", scope="review", body="LeaseIn",
        params=_ID, errs=_ERRS,
        ok={"200": {"description": "Extended", **json_content({
            "type": "object", "required": ["item_id", "lease"],
            "properties": {"item_id": {"type": "string"}, "lease": _LEASE}})}})},
    "/api/v1/items/{item_id}/escalate": {"post": operation(
        "Hand the item you hold to a supervisor", scope="review", body="EscalateIn",
        params=_ID, errs=_ERRS,
        ok={"200": {"description": "Escalated", **json_content(_ITEM_OUT)}})},
})
PATHS["/api/v1/items/{item_id}"]["get"]["description"] += (
    " A key of scope `review` sees the items of its user's queues.")
