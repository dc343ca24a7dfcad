"""The OpenAPI 3.1 document, built from the same schemas that validate requests.

Each route module adds its operations to PATHS; a test checks that every
/api/v1 rule in the app's URL map appears here.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify

from review.api.blueprint import bp
from review.intake.schemas import BATCH_IN, DECISION_IN, ITEM_IN

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {
        "type": "object",
        "required": ["code", "message"],
        "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                       "details": {}},
    }},
}

NULLABLE_STR = {"type": ["string", "null"]}

BACKLOG = {
    "type": "object",
    "description": "The queue's backlog after this request (ingest answers only): open "
    "items, projected wait of a new one at the pace of the last hour (null: no pace known), "
    "whether it is at its backlog_cap or its wait over the SLA (then the queue's overflow "
    "policy applies). Also sent as the `Review-Backlog` header.",
    "properties": {
        "queue": {"type": "string"}, "pending": {"type": "integer"},
        "wait_seconds": {"type": ["number", "null"]}, "over_cap": {"type": "boolean"},
        "over_sla": {"type": "boolean"}, "backlog_cap": {"type": ["integer", "null"]},
        "sla_seconds": {"type": "integer"}, "decisions_per_hour": {"type": "number"}},
}
BACKLOG_HEADER = {"Review-Backlog": {
    "description": "`queue=SLUG, pending=N, wait=SECONDS|unknown, over_cap=true|false` "
    "(a batch: one such group per queue, separated by `; `).",
    "schema": {"type": "string"}}}

ITEM = {
    "type": "object",
    "required": ["id", "queue", "status", "route", "output", "confidence", "created_at", "sla"],
    "properties": {
        "id": {"type": "string"},
        "queue": {"type": "string"},
        "external_id": NULLABLE_STR,
        "status": {"enum": ["checking", "pending", "in_review", "approved", "rejected"]},
        "route": {"type": "object", "properties": {
            "path": {"enum": ["auto", "check", "human"]},
            "reasons": {"type": "array", "items": {"type": "string"}},
            "audit_sampled": {"type": "boolean"},
            # What the router would have done when shadow mode, the rollout share,
            # the breaker or a version without evidence held the item back.
            "shadow_route": {"enum": ["auto", "check", None]}}},
        "input": {}, "output": {}, "context": {"type": "array"},
        "confidence": {"type": "number"},
        "model": {"type": ["object", "null"]},
        "prompt_version": NULLABLE_STR,
        "priority": {"type": "integer"},
        "metadata": {"type": "object"},
        "callback_url": NULLABLE_STR,
        "created_at": {"type": "string"},
        "check": {"type": ["object", "null"]},
        "decision": {"type": ["object", "null"], "properties": {
            "outcome": {"enum": ["approve", "reject", "edit"]},
            "output": {}, "reason": NULLABLE_STR, "note": NULLABLE_STR,
            "decided_by": {"type": "string"}, "decided_at": {"type": "string"}}},
        "sla": {"type": "object", "properties": {
            "due_at": NULLABLE_STR, "state": {"type": "string"},
            "breached": {"type": "boolean"}}},
        "purged_at": {**NULLABLE_STR, "description":
                      "When retention purged the payloads (input, output, context, "
                      "metadata); null while they are kept."},
        "backlog": {"anyOf": [{"$ref": "#/components/schemas/Backlog"}, {"type": "null"}]},
        "usage": {"type": ["object", "null"], "description": "The model's usage as sent "
                  "(input_tokens, output_tokens, cost); the check's is `check.usage`."},
    },
}

COMPONENTS: dict[str, Any] = {
    "schemas": {"Error": ERROR, "ItemIn": ITEM_IN, "Item": ITEM, "BatchIn": BATCH_IN,
                "DecisionIn": DECISION_IN,
                "Backlog": BACKLOG,
                "BatchOut": {"type": "object", "required": ["results", "summary"], "properties": {
                    "results": {"type": "array", "items": {"type": "object"}},
                    "summary": {"type": "object"},
                    "backlog": {"type": "object", "description": "Per queue slug.",
                                "additionalProperties": {
                                    "$ref": "#/components/schemas/Backlog"}}}},
                "DecisionPage": {"type": "object", "required": ["items"], "properties": {
                    "items": {"type": "array", "items": {"$ref": "#/components/schemas/Item"}},
                    "next": NULLABLE_STR}}},
    "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                   "description": "An API key from `review keys create`."}},
}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def errors(*statuses: int, described: dict[int, str] | None = None) -> dict[str, Any]:
    """The error responses; `described` says, for a status, which requests get it."""
    described = described or {}
    return {str(s): {"description": described.get(s, "Error"), **json_content(ref("Error"))}
            for s in statuses}


def operation(summary: str, *, scope: str, ok: dict[str, Any], body: str | None = None,
              params: list[dict] | None = None, errs: tuple[int, ...] = (400, 401, 403, 404,
                                                                           429),
              described: dict[int, str] | None = None) -> dict:
    op: dict[str, Any] = {"summary": summary, "security": [{"bearer": []}],
                          "description": f"Needs a key of scope `{scope}` (or admin).",
                          "x-scope": scope,  # for the docs page (/api/docs)
                          "responses": {**ok, **errors(*errs, described=described)}}
    if body:
        op["requestBody"] = {"required": True, **json_content(ref(body))}
    if params:
        op["parameters"] = params
    return op


def path_param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def query_param(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/items": {"post": operation(
        "Submit one model output", scope="submit", body="ItemIn",
        ok={"201": {"description": "Created", "headers": BACKLOG_HEADER,
                    **json_content(ref("Item"))},
            "200": {"description": "Idempotent replay", "headers": BACKLOG_HEADER,
                    **json_content(ref("Item"))}},
        errs=(400, 401, 403, 409, 413, 415, 422, 429, 503),
        described={429: "Too many requests (`rate_limited`), or the queue is overloaded and "
                   "its overflow policy is `reject` (`queue_overloaded`: nothing stored; "
                   "`details` is the backlog). Both carry Retry-After."})},
    "/api/v1/items/batch": {"post": operation(
        "Submit up to 500 items", scope="submit", body="BatchIn",
        ok={"200": {"description": "Per-item results; an entry an overloaded queue refused "
                    "is an error with status_code 429 and code `queue_overloaded` (then the "
                    "answer carries Retry-After)", "headers": BACKLOG_HEADER,
                    **json_content(ref("BatchOut"))}},
        errs=(400, 401, 403, 413, 415, 422, 429, 503))},
    "/api/v1/items/{item_id}": {"get": operation(
        "Poll an item and its decision", scope="submit",
        params=[path_param("item_id"), query_param(
            "history", {"enum": ["0", "1", "false", "true"]},
            "`1` or `true` includes the audit trail; any other value is a 400 `bad_history`.")],
        ok={"200": {"description": "The item", **json_content(ref("Item"))}},
        described={400: "`history` is not one of the enum (`bad_history`)."})},
    "/api/v1/items/{item_id}/events": {"get": operation(
        "The item's audit trail", scope="submit", params=[path_param("item_id")],
        ok={"200": {"description": "Events", **json_content({"type": "object"})}})},
    "/api/v1/decisions": {"get": operation(
        "Decided items in commit order (keyset pagination): following `next` lists "
        "every decision exactly once", scope="submit",
        params=[query_param("queue", {"type": "string"}),
                query_param("after", {"type": "string"},
                            "The `next` cursor of a page; any other value is a 400 "
                            "`bad_cursor`."),
                query_param("limit", {"type": "integer", "minimum": 1, "maximum": 1000})],
        ok={"200": {"description": "A page", **json_content(ref("DecisionPage"))}},
        described={400: "An `after` cursor this API did not issue, or one from an older "
                        "release (`bad_cursor`); `limit` out of range (`bad_limit`)."})},
}


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "review API", "version": "1.0.0",
                 "description": "Human-in-the-loop review queue for AI model outputs."},
        "servers": [{"url": "/"}],
        "paths": PATHS,
        "components": COMPONENTS,
    }


@bp.get("/openapi.json")
def openapi_json():
    return jsonify(document())
