"""Ingest, poll and the decisions feed."""

from __future__ import annotations

import orjson
from flask import Response, current_app, jsonify, request

from review.api.blueprint import bp
from review.api.body import json_batch, json_object
from review.api.errors import ApiError, batch_entry, domain_error_response
from review.api.keys import current_key, require_key
from review.core.access import reviewable_item
from review.core.db import get_session
from review.core.errors import RateLimited
from review.core.events import item_history
from review.core.items import get_item_for_key, item_to_dict, list_decisions
from review.core.rate_limiter import limiter
from review.core.settings import settings
from review.human.item_page import history_for
from review.intake.ingest import submit_batch_outcome, submit_item
from review.intake.schemas import BATCH_IN, validation_errors
from review.ops.metrics import count_overflow, observe_ingest


def _owner() -> str | None:
    """Whose items the caller may see: its own, or all for an admin key."""
    key = current_key()
    return None if key.scope == "admin" else key.name


# One budget per API key over both ingest routes, on a moving minute (Flask-Limiter).
# Checked inside require_key, once the key is known; fails open when Redis is down.
ingest_limit = limiter.shared_limit(lambda: f"{settings().INGEST_RATE_LIMIT}/minute",
                                    scope="ingest", key_func=lambda: str(current_key().id))


BACKLOG_HEADER = "Review-Backlog"


@bp.post("/items")
@require_key("submit")
@ingest_limit
def create_item():
    payload = json_object()
    with observe_ingest("item") as observed:
        try:
            result = submit_item(get_session(), payload, current_key().name)
        except RateLimited as exc:
            if exc.code != "queue_overloaded":
                raise
            count_overflow({(str(payload.get("queue")), "rejected"): 1})
            response = domain_error_response(exc)
            response.headers[BACKLOG_HEADER] = header_of(exc.details)
            return response
        observed.item(result.item.queue.slug, result.item.route_path, result.created)
    if result.overflow:
        count_overflow({(result.item.queue.slug, result.overflow): 1})
    backlog = result.backlog.to_dict() if result.backlog else None
    body = {**item_to_dict(result.item), "backlog": backlog}
    headers = {BACKLOG_HEADER: result.backlog.header()} if result.backlog else {}
    return jsonify(body), 201 if result.created else 200, headers


# Without its own OPTIONS answer, /items/batch would also match /items/<item_id>, and
# Flask's automatic Allow header would list that rule's GET.
@bp.route("/items/batch", methods=["OPTIONS"], provide_automatic_options=False)
def items_batch_options() -> Response:
    return Response(status=200, headers={"Allow": "OPTIONS, POST"})


@bp.post("/items/batch", provide_automatic_options=False)
@require_key("submit")
@ingest_limit
def create_items_batch():
    body, refused = json_batch("items")
    problems = validation_errors(BATCH_IN, body)
    if problems:
        raise ApiError(422, "validation_failed", "The batch is invalid.", problems)
    entries = body["items"]
    # An entry with a string UTF-8 cannot encode is refused alone; the rest are stored.
    kept = [index for index in range(len(entries)) if index not in refused]
    with observe_ingest("batch") as observed:
        outcome = submit_batch_outcome(get_session(), [entries[i] for i in kept],
                                       current_key().name)
        results = outcome.results
        results = sorted([{**r, "index": kept[r["index"]]} for r in results]
                         + list(refused.values()), key=lambda r: r["index"])
        observed.batch(entries, results)
    results = [batch_entry(r) for r in results]
    summary = {kind: sum(r["result"] == kind for r in results)
               for kind in ("created", "replayed", "error")}
    count_overflow(outcome.shed)
    headers = {}
    if outcome.backlog:
        headers[BACKLOG_HEADER] = "; ".join(s.header() for s in outcome.backlog.values())
    refused = [s.retry_after() for (slug, action), _n in outcome.shed.items()
               if action == "rejected" for s in [outcome.backlog[slug]]]
    if refused:
        headers["Retry-After"] = str(max(refused))
    backlog = {slug: state.to_dict() for slug, state in outcome.backlog.items()}
    return jsonify({"results": results, "summary": summary, "backlog": backlog}), 200, headers


def header_of(state: dict) -> str:
    """The Review-Backlog header of a refusal, from the backlog its details carry."""
    wait = state.get("wait_seconds")
    return (f"queue={state.get('queue')}, pending={state.get('pending')}, "
            f"wait={'unknown' if wait is None else f'{wait:.0f}'}, "
            f"over_cap={'true' if state.get('over_cap') else 'false'}")


HISTORY = ("0", "1", "false", "true")  # the documented enum of ?history=


def _wants_history() -> bool:
    raw = request.args.get("history")
    if raw is not None and raw not in HISTORY:
        raise ApiError(400, "bad_history", f"history must be one of {', '.join(HISTORY)}.")
    return raw in ("1", "true")


@bp.get("/items/<item_id>")
@require_key("submit", "review")
def get_item(item_id: str):
    key = current_key()
    history = _wants_history()
    if key.scope == "review":  # a reviewer: items of the queues they are a member of
        item = reviewable_item(get_session(), key.user, item_id) if key.user else None
        if item is None:
            raise ApiError(404, "not_found", f"No item {item_id!r}.")
        body = item_to_dict(item)
        if history:
            body["history"] = history_for(get_session(), item, key.user)
        return jsonify(body)
    item = get_item_for_key(get_session(), item_id, _owner())
    body = item_to_dict(item)
    if history:
        body["history"] = item_history(get_session(), item.id)
    return jsonify(body)


@bp.get("/items/<item_id>/events")
@require_key("submit")
def get_item_events(item_id: str):
    item = get_item_for_key(get_session(), item_id, _owner())
    return jsonify({"item_id": item.id, "events": item_history(get_session(), item.id)})


@bp.get("/decisions")
@require_key("submit")
def decisions_feed():
    try:
        limit = int(request.args.get("limit", 100))
    except ValueError as exc:
        raise ApiError(400, "bad_limit", "limit must be an integer in [1, 1000].") from exc
    if not 1 <= limit <= 1000:
        raise ApiError(400, "bad_limit", "limit must be an integer in [1, 1000].")
    page = list_decisions(get_session(), queue_slug=request.args.get("queue") or None,
                          after=request.args.get("after") or None, limit=limit,
                          owner=_owner())
    return feed_response(page)


def feed_response(page: dict) -> Response:
    """The page as jsonify would write it (same keys, order and values), by orjson, several
    times faster than the standard encoder on a 100-item page. Values orjson refuses (integers
    beyond 64 bits, lone surrogates) go through jsonify."""
    option = orjson.OPT_SORT_KEYS if current_app.json.sort_keys else 0  # type: ignore[attr-defined]
    try:
        body = orjson.dumps(page, option=option | orjson.OPT_APPEND_NEWLINE)
    except orjson.JSONEncodeError:
        return jsonify(page)
    return Response(body, mimetype="application/json")
