"""Strict JSON request bodies: right content type, valid UTF-8, finite
numbers, bounded nesting, no NUL characters. Python's json module accepts NaN and Infinity and
recurses without limit, so both are refused here."""

from __future__ import annotations

import json
import math
from typing import Any

from flask import request

from review.api.errors import ApiError

MAX_DEPTH = 32


def _refuse_constant(name: str) -> float:
    raise ValueError(f"non-finite number {name} is not valid JSON")


def _finite_float(text: str) -> float:
    # 1e999 parses to inf, which PostgreSQL's JSONB cannot store either.
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def json_body() -> Any:
    mimetype = request.mimetype or ""
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise ApiError(415, "unsupported_media_type",
                       "Send the body as JSON with 'Content-Type: application/json'.")
    raw = request.get_data(cache=True)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, "invalid_utf8", f"The body is not valid UTF-8: {exc.reason} "
                       f"at byte {exc.start}.") from exc
    try:
        body = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError as exc:
        raise ApiError(400, "too_deep", f"JSON nesting deeper than {MAX_DEPTH} levels.") from exc
    except ValueError as exc:
        raise ApiError(400, "invalid_json", f"The body is not valid JSON: {exc}") from exc
    if _depth_exceeds(body, MAX_DEPTH):
        raise ApiError(400, "too_deep", f"JSON nesting deeper than {MAX_DEPTH} levels.")
    if _contains_nul(body):
        # PostgreSQL text and JSONB cannot store U+0000: refuse it on every database.
        raise ApiError(400, "invalid_characters",
                       "The body contains a NUL character (\\u0000), which is not allowed.")
    return body


def json_object() -> dict[str, Any]:
    body = json_body()
    if not isinstance(body, dict):
        raise ApiError(400, "not_an_object", "The body must be a JSON object.")
    return body


def _depth_exceeds(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return False


def _contains_nul(value: Any) -> bool:
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if "\x00" in node:
                return True
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False
