"""Comments on an item over the API: read by anyone who may see the item, written by a
reviewer or supervisor of its queue (a review key, or an admin key with a user)."""

from __future__ import annotations

from flask import jsonify

from review.api.blueprint import bp
from review.api.body import json_object
from review.api.errors import ApiError
from review.api.keys import current_key, require_key
from review.api.openapi import PATHS, json_content, operation, path_param
from review.core.access import reviewable_item
from review.core.db import get_session
from review.core.items import get_item_for_key
from review.human.comments import add_comment, comments_for


@bp.get("/items/<item_id>/comments")
@require_key("submit", "review")
def list_item_comments(item_id: str):
    session, key = get_session(), current_key()
    if key.scope == "review":
        if key.user is None:
            raise ApiError(404, "not_found", f"No item {item_id!r}.")
        item = reviewable_item(session, key.user, item_id)
    else:
        item = get_item_for_key(session, item_id, None if key.scope == "admin" else key.name)
    return jsonify({"item_id": item.id, "comments": comments_for(session, item.id)})


@bp.post("/items/<item_id>/comments")
@require_key("review")
def post_item_comment(item_id: str):
    key = current_key()
    if key.user is None:
        raise ApiError(403, "no_user", "Only a key of a person can comment; this key has none.")
    comment = add_comment(get_session(), key.user, item_id, json_object().get("body"))
    return jsonify(comment), 201


_COMMENT = {"type": "object", "properties": {
    "id": {"type": "integer"}, "author": {"type": "string"},
    "at": {"type": "string", "format": "date-time"}, "body": {"type": "string"}}}
PATHS["/api/v1/items/{item_id}/comments"] = {
    "get": operation(
        "The item's comments, oldest first", scope="submit", params=[path_param("item_id")],
        ok={"200": {"description": "The thread", **json_content({"type": "object", "properties": {
            "item_id": {"type": "string"},
            "comments": {"type": "array", "items": _COMMENT}}})}},
        errs=(401, 403, 404, 429)),
    "post": operation(
        "Comment on an item (a reviewer or supervisor of its queue)", scope="review",
        params=[path_param("item_id")],
        ok={"201": {"description": "The comment", **json_content(_COMMENT)}},
        errs=(400, 401, 403, 404, 415, 422, 429)),
}
PATHS["/api/v1/items/{item_id}/comments"]["post"]["requestBody"] = {
    "required": True, **json_content({"type": "object", "required": ["body"], "properties": {
        "body": {"type": "string", "minLength": 1, "maxLength": 4000}}})}
