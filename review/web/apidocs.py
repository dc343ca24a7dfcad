"""The API reference page's code samples, built from the OpenAPI document.

Swagger UI (review/web/docs.py) renders the document itself; this adds what it cannot
make up: for every path and method, a curl example with a realistic body (`$REVIEW_URL`,
`$REVIEW_KEY`) and the Python client call. A pure transformation: no Flask, no database.
"""

from __future__ import annotations

import json
import re
from typing import Any

METHOD_ORDER = ("get", "post", "put", "patch", "delete")

# Examples that read better than ones generated from the schema.
EXAMPLE_BODIES: dict[str, Any] = {
    "ItemIn": {"queue": "support", "output": "Your refund was sent on Monday.",
               "confidence": 0.42, "external_id": "ticket-1",
               "input": {"question": "Where is my refund?"},
               "context": ["Refunds are sent within 5 days."],
               "model": {"name": "gpt", "version": "1"}},
    "BatchIn": {"items": [
        {"queue": "support", "output": "Your order ships Monday.", "confidence": 0.95,
         "external_id": "ticket-2"},
        {"queue": "support", "output": "We cannot refund this.", "confidence": 0.3,
         "external_id": "ticket-3"}]},
}

# Python client calls for the routes the client wraps; others use client.request.
CLIENT_CALLS: dict[tuple[str, str], str] = {
    ("post", "/api/v1/items"): (
        'item = client.submit("support", "Your refund was sent on Monday.", 0.42,\n'
        '                     external_id="ticket-1",\n'
        '                     context=["Refunds are sent within 5 days."])\n'
        'print(item.id, item.status, item.route.path)'),
    ("post", "/api/v1/items/batch"): (
        'result = client.submit_batch([\n'
        '    {"queue": "support", "output": "Your order ships Monday.", "confidence": 0.95},\n'
        '    {"queue": "support", "output": "We cannot refund this.", "confidence": 0.3},\n'
        '])\n'
        'print(result.summary, [e.id for e in result.entries])'),
    ("get", "/api/v1/items/{item_id}"): (
        'item = client.get(item_id)\n'
        'decided = client.wait(item_id, timeout=3600)  # polls with backoff\n'
        'print(decided.status, decided.decision.outcome, decided.decision.output)'),
    ("get", "/api/v1/decisions"): (
        'feed = client.decisions(queue="support")\n'
        'for item in feed:\n'
        '    print(item.id, item.decision.outcome)\n'
        'save(feed.cursor)  # resume later with client.decisions(after=cursor)'),
}

CLIENT_SETUP = ('from review.client import ReviewClient\n'
                'client = ReviewClient("http://127.0.0.1:8000", "rv_...")')


def _ref_name(schema: dict[str, Any] | None) -> str | None:
    if schema and "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    return None


def resolve(schema: dict[str, Any] | None, components: dict[str, Any]) -> dict[str, Any]:
    name = _ref_name(schema)
    return components.get(name, {}) if name else (schema or {})


def example_for(schema: dict[str, Any], components: dict[str, Any], depth: int = 0) -> Any:
    """A plausible value for a schema: required properties only, first enum value."""
    schema = resolve(schema, components) if "$ref" in schema else schema
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    kind = kind[0] if isinstance(kind, list) else kind
    if kind == "object" or "properties" in schema:
        if depth > 3:
            return {}
        props = schema.get("properties", {})
        return {name: example_for(props[name], components, depth + 1)
                for name in schema.get("required", []) if name in props}
    return {"string": "text", "number": 0.5, "integer": 1, "boolean": True,
            "array": []}.get(kind or "", "text")


def _placeholder(name: str) -> str:
    return name.upper()


def curl_example(method: str, path: str, body: Any) -> str:
    url = re.sub(r"\{(\w+)\}", lambda m: _placeholder(m.group(1)), path)
    lines = [f'curl -s -X {method.upper()} "$REVIEW_URL{url}"',
             '  -H "Authorization: Bearer $REVIEW_KEY"']
    if body is not None:
        lines.append("  -H 'Content-Type: application/json'")
        lines.append(f"  -d '{json.dumps(body)}'")
    return " \\\n".join(lines)


def client_example(method: str, path: str, body: Any) -> str:
    known = CLIENT_CALLS.get((method, path))
    if known:
        return f"{CLIENT_SETUP}\n{known}"
    # Path parameters become f-string fields: `item_id` etc. are the caller's variables.
    call = f'resp = client.request("{method.upper()}", f"{path}"'
    if body is not None:
        call += f",\n                      json_body={json.dumps(body)}"
    return f"{CLIENT_SETUP}\n{call})\nprint(resp.status_code, resp.text)"


def code_samples(document: dict[str, Any]) -> dict[str, dict[str, str]]:
    """`"METHOD /path"` -> {"curl": ..., "client": ...} for every operation of `document`."""
    components = document.get("components", {}).get("schemas", {})
    samples: dict[str, dict[str, str]] = {}
    for path in sorted(document.get("paths", {})):
        methods = document["paths"][path]
        for method in sorted(methods, key=lambda m: (METHOD_ORDER + (m,)).index(m)):
            if method not in METHOD_ORDER:
                continue  # "parameters", "summary": not operations
            body_ref = methods[method].get("requestBody", {}).get("content", {}).get(
                "application/json", {}).get("schema")
            body = None
            if body_ref is not None:
                body = EXAMPLE_BODIES.get(_ref_name(body_ref) or "") or example_for(
                    resolve(body_ref, components), components)
            samples[f"{method.upper()} {path}"] = {
                "curl": curl_example(method, path, body),
                "client": client_example(method, path, body)}
    return samples
