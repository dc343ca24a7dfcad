"""Admin API over accounts: users, queue memberships, API keys and the account audit
trail. Every route needs an admin key; every change is audited as `api:<key name>`."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request

from review.api.blueprint import bp
from review.api.body import json_object
from review.api.errors import ApiError
from review.api.keys import current_key, require_key
from review.api.openapi import (
    COMPONENTS,
    PATHS,
    json_content,
    operation,
    path_param,
    query_param,
    ref,
)
from review.core.accounts import (
    NAME_MAX,
    NAME_RULE,
    PASSWORD_MAX,
    PASSWORD_MIN,
    account_event_to_dict,
    account_events,
    add_key,
    add_user,
    get_user,
    key_to_dict,
    list_keys,
    list_users,
    revoke_key,
    rotate_key,
    set_password,
    set_user_active,
    set_user_role,
    user_queues,
    user_to_dict,
)
from review.core.db import get_session
from review.core.errors import NotFound
from review.core.models import KEY_SCOPES, ROLES
from review.human.members import MAX_TAGS, TAG_MAX, add_membership, members_of, remove_membership
from review.intake.schemas import validation_errors

MAX_ID = 2**31 - 1  # users and keys have 32-bit ids on both databases
_NAME = {"type": "string", "minLength": 1, "maxLength": NAME_MAX, "description": NAME_RULE}
_PASSWORD = {"type": "string", "minLength": PASSWORD_MIN, "maxLength": PASSWORD_MAX}
USER_IN: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["name", "password", "role"],
    "properties": {"name": _NAME, "password": _PASSWORD, "role": {"enum": list(ROLES)},
                   "queues": {"type": "array", "maxItems": 100, "items": {
                       "type": "string", "minLength": 1, "maxLength": 64}}}}
ROLE_IN: dict[str, Any] = {"type": "object", "additionalProperties": False,
                           "required": ["role"], "properties": {"role": {"enum": list(ROLES)}}}
PASSWORD_IN: dict[str, Any] = {"type": "object", "additionalProperties": False,
                               "required": ["password"], "properties": {"password": _PASSWORD}}
MEMBER_IN: dict[str, Any] = {
    "type": "object", "additionalProperties": False,
    "properties": {"tags": {"type": "array", "maxItems": MAX_TAGS, "items": {
        "type": "string", "minLength": 1, "maxLength": TAG_MAX}}}}
KEY_IN: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["name", "scope"],
    "properties": {"name": _NAME, "scope": {"enum": list(KEY_SCOPES)},
                   "user": {**_NAME, "description": "The user a review key acts as."}}}


def _actor() -> str:
    return f"api:{current_key().name}"


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    body = json_object()
    problems = validation_errors(schema, body)
    if problems:
        raise ApiError(422, "validation_failed", "The request body is invalid.", problems)
    return body


def _id(raw: str) -> int:
    """A user id from the path. The path segment is a plain string so that the body is
    checked first (a bad body is a 400 whatever the id), and a non-id is a 404."""
    # Length first: int() refuses strings of over 4,300 digits with a ValueError.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 19 and 0 < int(raw) <= MAX_ID):
        raise NotFound("user_not_found", f"No user {raw[:40]!r}.")
    return int(raw)


def _user_json(user_id: int) -> dict[str, Any]:
    session = get_session()
    user = get_user(session, user_id)
    return user_to_dict(user, user_queues(session, [user.id])[user.id])


def _limit() -> int:
    raw = request.args.get("limit", "50")
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 3 and 1 <= int(raw) <= 200):
        raise ApiError(400, "bad_limit", "limit must be an integer in [1, 200].")
    return int(raw)


@bp.get("/admin/users")
@require_key("admin")
def admin_users():
    session = get_session()
    users = list_users(session)
    queues = user_queues(session, [u.id for u in users])
    return jsonify({"users": [user_to_dict(u, queues[u.id]) for u in users]})


@bp.post("/admin/users")
@require_key("admin")
def admin_user_create():
    body = _body(USER_IN)
    user = add_user(get_session(), _actor(), body["name"], body["password"], body["role"],
                    body.get("queues", ()))
    return jsonify(_user_json(user.id)), 201


@bp.post("/admin/users/<user_id>/deactivate")
@require_key("admin")
def admin_user_deactivate(user_id: str):
    uid = _id(user_id)
    set_user_active(get_session(), _actor(), uid, False)
    return jsonify(_user_json(uid))


@bp.post("/admin/users/<user_id>/activate")
@require_key("admin")
def admin_user_activate(user_id: str):
    uid = _id(user_id)
    set_user_active(get_session(), _actor(), uid, True)
    return jsonify(_user_json(uid))


@bp.post("/admin/users/<user_id>/role")
@require_key("admin")
def admin_user_role(user_id: str):
    role = _body(ROLE_IN)["role"]
    uid = _id(user_id)
    set_user_role(get_session(), _actor(), uid, role)
    return jsonify(_user_json(uid))


@bp.post("/admin/users/<user_id>/password")
@require_key("admin")
def admin_user_password(user_id: str):
    password = _body(PASSWORD_IN)["password"]
    uid = _id(user_id)
    set_password(get_session(), _actor(), uid, password)
    return jsonify(_user_json(uid))


@bp.get("/admin/queues/<slug>/members")
@require_key("admin")
def admin_members(slug: str):
    return jsonify({"queue": slug, "members": members_of(get_session(), slug)})


@bp.route("/admin/queues/<slug>/members/<user_id>", methods=["PUT", "DELETE"])
@require_key("admin")
def admin_member(slug: str, user_id: str):
    if request.method == "DELETE":
        remove_membership(get_session(), _actor(), slug, _id(user_id))
        return "", 204
    # The body is optional: none at all means no tags; anything sent, even an empty body
    # declared as JSON, must be a valid JSON object.
    sent = request.content_type or request.content_length
    body = _body(MEMBER_IN) if sent else {}
    return jsonify(add_membership(get_session(), _actor(), slug, _id(user_id),
                                  body.get("tags", [])))


@bp.get("/admin/keys")
@require_key("admin")
def admin_keys():
    revoked = request.args.get("revoked", "1")
    if revoked not in ("0", "1"):
        raise ApiError(400, "bad_revoked", "revoked must be 0 or 1.")
    keys = list_keys(get_session(), include_revoked=revoked == "1")
    return jsonify({"keys": [key_to_dict(k) for k in keys]})


@bp.post("/admin/keys")
@require_key("admin")
def admin_key_create():
    body = _body(KEY_IN)
    key, raw = add_key(get_session(), _actor(), body["name"], body["scope"], body.get("user"))
    return jsonify({**key_to_dict(key), "key": raw, "webhook_secret": key.webhook_secret}), 201


@bp.post(f"/admin/keys/<int(max={MAX_ID}):key_id>/revoke")
@require_key("admin")
def admin_key_revoke(key_id: int):
    return jsonify(key_to_dict(revoke_key(get_session(), _actor(), key_id)))


@bp.post(f"/admin/keys/<int(max={MAX_ID}):key_id>/rotate")
@require_key("admin")
def admin_key_rotate(key_id: int):
    key, raw = rotate_key(get_session(), _actor(), key_id)
    return jsonify({**key_to_dict(key), "key": raw, "replaces": key_id}), 201


@bp.get("/admin/account-events")
@require_key("admin")
def admin_account_events():
    limit = _limit()
    raw_before = request.args.get("before")
    if raw_before is not None and not (raw_before.isascii() and raw_before.isdigit()
                                       and len(raw_before) <= 19
                                       and 1 <= int(raw_before) <= 2**63 - 1):
        raise ApiError(400, "bad_before", "before must be a positive integer.")
    rows = account_events(get_session(), limit, int(raw_before) if raw_before else None)
    return jsonify({"events": [account_event_to_dict(e) for e in rows],
                    "next": str(rows[-1].id) if len(rows) == limit else None})


_STAMP = {"type": ["string", "null"]}
_USER = {"type": "object", "required": ["id", "name", "role", "active", "queues"],
         "properties": {"id": {"type": "integer"}, "name": {"type": "string"},
                        "role": {"enum": list(ROLES)}, "active": {"type": "boolean"},
                        "created_at": _STAMP,
                        "queues": {"type": "array", "items": {"type": "object"}}}}
_KEY = {"type": "object", "required": ["id", "name", "scope", "prefix", "revoked_at"],
        "properties": {"id": {"type": "integer"}, "name": {"type": "string"},
                       "scope": {"enum": list(KEY_SCOPES)}, "prefix": {"type": "string"},
                       "user": {"type": ["string", "null"]}, "created_at": _STAMP,
                       "last_used_at": _STAMP, "revoked_at": _STAMP}}
_NEW_KEY = {"type": "object", "required": ["id", "key"], "properties": {
    **_KEY["properties"], "key": {"type": "string", "description": "The raw key: shown once."},
    "webhook_secret": {"type": "string"}, "replaces": {"type": "integer"}}}
_MEMBER = {"type": "object", "required": ["queue", "user_id", "tags"], "properties": {
    "queue": {"type": "string"}, "user_id": {"type": "integer"}, "name": {"type": "string"},
    "tags": {"type": "array", "items": {"type": "string"}}}}
COMPONENTS["schemas"].update({"AdminUser": _USER, "AdminUserIn": USER_IN, "RoleIn": ROLE_IN,
                              "PasswordIn": PASSWORD_IN, "MemberIn": MEMBER_IN,
                              "AdminKey": _KEY, "AdminKeyIn": KEY_IN, "NewKey": _NEW_KEY})
_UID = {**path_param("user_id"), "schema": {"type": "integer", "maximum": MAX_ID}}
_KID = {**path_param("key_id"), "schema": {"type": "integer", "maximum": MAX_ID}}
_USER_OK = {"200": {"description": "The user", **json_content(ref("AdminUser"))}}
_CHANGE = (400, 401, 403, 404, 409, 415, 422, 429)


def _user_action(summary: str, body: str | None = None) -> dict[str, Any]:
    return {"post": operation(summary, scope="admin", params=[_UID], body=body, ok=_USER_OK,
                              errs=_CHANGE)}


PATHS.update({
    "/api/v1/admin/users": {
        "get": operation("Every user with their queues", scope="admin", errs=(401, 403, 429),
                         ok={"200": {"description": "Users", **json_content({
                             "type": "object", "required": ["users"], "properties": {
                                 "users": {"type": "array", "items": ref("AdminUser")}}})}}),
        "post": operation("Create a user (409 when the name is taken)", scope="admin",
                          body="AdminUserIn", errs=_CHANGE, ok={"201": {
                              "description": "Created", **json_content(ref("AdminUser"))}})},
    "/api/v1/admin/users/{user_id}/deactivate": _user_action(
        "Deactivate a user: their sessions and keys stop working on the next request "
        "(409 for the last active admin)"),
    "/api/v1/admin/users/{user_id}/activate": _user_action("Activate a user again"),
    "/api/v1/admin/users/{user_id}/role": _user_action("Set a user's role", "RoleIn"),
    "/api/v1/admin/users/{user_id}/password": _user_action(
        "Set a user's password; every session of theirs ends", "PasswordIn"),
    "/api/v1/admin/queues/{slug}/members": {"get": operation(
        "A queue's members with their tags", scope="admin", params=[path_param("slug")],
        errs=(401, 403, 404, 429), ok={"200": {"description": "Members", **json_content({
            "type": "object", "required": ["queue", "members"], "properties": {
                "queue": {"type": "string"},
                "members": {"type": "array", "items": {"type": "object"}}}})}})},
    "/api/v1/admin/queues/{slug}/members/{user_id}": {
        "put": operation("Make a user a member of a queue, or set their tags", scope="admin",
                         params=[path_param("slug"), _UID], body="MemberIn", errs=_CHANGE,
                         ok={"200": {"description": "The membership",
                                     **json_content(_MEMBER)}}),
        "delete": operation("Remove a member; items they hold go back to the queue",
                            scope="admin", params=[path_param("slug"), _UID],
                            errs=(401, 403, 404, 429),
                            ok={"204": {"description": "Removed"}})},
    "/api/v1/admin/keys": {
        "get": operation("Every API key (never the key itself)", scope="admin",
                         params=[query_param("revoked", {"enum": ["0", "1"]},
                                             "Include revoked keys (default 1).")],
                         errs=(400, 401, 403, 429), ok={"200": {
                             "description": "Keys", **json_content({
                                 "type": "object", "required": ["keys"], "properties": {
                                     "keys": {"type": "array", "items": ref("AdminKey")}}})}}),
        "post": operation("Create a key; the raw key and webhook secret are shown once",
                          scope="admin", body="AdminKeyIn", errs=_CHANGE,
                          ok={"201": {"description": "Created", **json_content(ref("NewKey"))}})},
    "/api/v1/admin/keys/{key_id}/revoke": {"post": operation(
        "Revoke a key: its next request gets 401 (409 if revoked already)", scope="admin",
        params=[_KID], errs=(401, 403, 404, 409, 429),
        ok={"200": {"description": "Revoked", **json_content(ref("AdminKey"))}})},
    "/api/v1/admin/keys/{key_id}/rotate": {"post": operation(
        "Replace a key by a new one (same name, scope, user, webhook secret) and revoke the "
        "old one; the raw new key is shown once", scope="admin", params=[_KID],
        errs=(401, 403, 404, 409, 429),
        ok={"201": {"description": "The new key", **json_content(ref("NewKey"))}})},
    "/api/v1/admin/account-events": {"get": operation(
        "The account audit trail (users, memberships, keys), newest first", scope="admin",
        params=[query_param("limit", {"type": "integer", "minimum": 1, "maximum": 200}),
                query_param("before", {"type": "integer", "minimum": 1,
                                       "maximum": 2**63 - 1},
                            "The `next` value of the previous page.")],
        errs=(400, 401, 403, 429), ok={"200": {"description": "A page", **json_content({
            "type": "object", "required": ["events"], "properties": {
                "events": {"type": "array", "items": {"type": "object", "required": [
                    "id", "at", "actor", "action"]}},
                "next": {"type": ["string", "null"]}}})}})},
})
PATHS["/api/v1/admin/queues/{slug}/members/{user_id}"]["put"]["requestBody"]["required"] = \
    False
