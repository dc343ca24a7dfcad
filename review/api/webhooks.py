"""Admin API over webhook deliveries: list, inspect attempts, re-send."""

from __future__ import annotations

from flask import jsonify, request

from review.api.blueprint import bp
from review.api.errors import ApiError
from review.api.keys import require_key
from review.api.openapi import (
    PATHS,
    json_content,
    operation,
    path_param,
    query_param,
)
from review.core.db import get_session
from review.webhooks.delivery import (
    DELIVERY_STATUSES,
    delivery_attempts,
    delivery_to_dict,
    get_delivery,
    list_deliveries,
    resend,
)

# Ids are 64-bit signed in both databases; a larger number would overflow the
# driver (a 500), so it is refused as a 400 / unknown path instead.
MAX_ID = 2**63 - 1


def _int_arg(name: str, low: int, high: int | None = None) -> int | None:
    raw = request.args.get(name)
    if raw is None:
        return None  # absent; an empty value is a malformed integer (400)
    try:
        value = int(raw)
    except ValueError as exc:
        raise ApiError(400, f"bad_{name}", f"{name} must be an integer.") from exc
    if value < low or (high is not None and value > high):
        bound = f"in [{low}, {high}]" if high is not None else f">= {low}"
        raise ApiError(400, f"bad_{name}", f"{name} must be an integer {bound}.")
    return value


@bp.get("/webhooks/deliveries")
@require_key("admin")
def webhook_deliveries():
    limit = _int_arg("limit", 1, 200) or 50
    rows = list_deliveries(get_session(), status=request.args.get("status"),
                           item_id=request.args.get("item_id") or None,
                           before=_int_arg("before", 1, MAX_ID), limit=limit)
    return jsonify({"deliveries": [delivery_to_dict(d) for d in rows],
                    "next": str(rows[-1].id) if len(rows) == limit else None})


@bp.get(f"/webhooks/deliveries/<int(max={MAX_ID}):delivery_id>")
@require_key("admin")
def webhook_delivery(delivery_id: int):
    session = get_session()
    delivery = get_delivery(session, delivery_id)
    return jsonify(delivery_to_dict(delivery, delivery_attempts(session, delivery_id)))


@bp.post(f"/webhooks/deliveries/<int(max={MAX_ID}):delivery_id>/resend")
@require_key("admin")
def webhook_delivery_resend(delivery_id: int):
    delivery = resend(get_session(), delivery_id)
    return jsonify(delivery_to_dict(delivery)), 202


_DELIVERY = {"type": "object", "required": ["id", "event_id", "kind", "url", "status",
                                            "attempts"],
             "properties": {"id": {"type": "integer"}, "event_id": {"type": "string"},
                            "kind": {"type": "string"}, "item_id": {"type": ["string", "null"]},
                            "url": {"type": "string"}, "status": {"enum": list(DELIVERY_STATUSES)},
                            "attempts": {"type": "integer"},
                            "attempt_log": {"type": "array", "items": {"type": "object"}}}}
_ID = {**path_param("delivery_id"), "schema": {"type": "integer", "maximum": MAX_ID}}

PATHS.update({
    "/api/v1/webhooks/deliveries": {"get": operation(
        "Webhook deliveries, newest first", scope="admin",
        params=[query_param("status", {"enum": list(DELIVERY_STATUSES)}),
                query_param("item_id", {"type": "string"}),
                query_param("before", {"type": "integer", "minimum": 1, "maximum": MAX_ID},
                            "The `next` value of the previous page."),
                query_param("limit", {"type": "integer", "minimum": 1, "maximum": 200})],
        ok={"200": {"description": "A page", **json_content({
            "type": "object", "required": ["deliveries"], "properties": {
                "deliveries": {"type": "array", "items": _DELIVERY},
                "next": {"type": ["string", "null"]}}})}},
        errs=(400, 401, 403, 429))},
    "/api/v1/webhooks/deliveries/{delivery_id}": {"get": operation(
        "One delivery with its payload and every attempt", scope="admin", params=[_ID],
        ok={"200": {"description": "The delivery", **json_content(_DELIVERY)}})},
    "/api/v1/webhooks/deliveries/{delivery_id}/resend": {"post": operation(
        "Send a delivery again now", scope="admin", params=[_ID],
        ok={"202": {"description": "Queued", **json_content(_DELIVERY)}})},
})
