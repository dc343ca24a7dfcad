"""The API reference page's content, built from the OpenAPI document.

A pure transformation (no Flask, no database): every path and method of the
document becomes one `Operation` with its scope, parameters, request fields,
responses, a curl example and a Python client example. The template only
prints these.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
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


@dataclass
class Field:
    name: str
    type: str
    required: bool
    description: str


@dataclass
class Response:
    status: str
    description: str
    schema: str


@dataclass
class Operation:
    method: str
    path: str
    anchor: str
    summary: str
    description: str
    scope: str
    parameters: list[Field]
    body_schema: str | None
    body_fields: list[Field]
    body_json: str | None
    responses: list[Response]
    curl: str
    client: str


@dataclass
class ApiDocs:
    title: str
    version: str
    description: str
    operations: list[Operation] = field(default_factory=list)
    schemas: dict[str, str] = field(default_factory=dict)  # name -> pretty JSON


def _ref_name(schema: dict[str, Any] | None) -> str | None:
    if schema and "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    return None


def resolve(schema: dict[str, Any] | None, components: dict[str, Any]) -> dict[str, Any]:
    name = _ref_name(schema)
    return components.get(name, {}) if name else (schema or {})


def type_label(schema: dict[str, Any]) -> str:
    """A short human label for a schema: `string`, `number 0..1`, `one of a, b`."""
    if "$ref" in schema:
        return _ref_name(schema) or "object"
    if "enum" in schema:
        return "one of " + ", ".join(json.dumps(v) for v in schema["enum"])
    kind = schema.get("type")
    if isinstance(kind, list):
        label = " or ".join(kind)
    elif kind:
        label = kind
    elif schema.get("not") == {"type": "null"}:
        label = "any JSON but null"
    elif "anyOf" in schema:
        label = " or ".join(type_label(s) for s in schema["anyOf"])
    else:
        label = "any JSON"
    if "minimum" in schema or "maximum" in schema:
        label += f" {schema.get('minimum', '')}..{schema.get('maximum', '')}"
    if "maxLength" in schema:
        label += f" (≤ {schema['maxLength']} chars)"
    if "maxItems" in schema:
        label += f" (≤ {schema['maxItems']} items)"
    return label


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


def _fields(schema: dict[str, Any]) -> list[Field]:
    required = set(schema.get("required", []))
    return [Field(name, type_label(sub), name in required, sub.get("description", ""))
            for name, sub in schema.get("properties", {}).items()]


def _params(op: dict[str, Any]) -> list[Field]:
    return [Field(f"{p['name']} ({p['in']})", type_label(p.get("schema", {})),
                  bool(p.get("required")), p.get("description", ""))
            for p in op.get("parameters", [])]


def _scope(op: dict[str, Any]) -> str:
    if op.get("x-scope"):
        return op["x-scope"]
    found = re.search(r"scope `(\w+)`", op.get("description", ""))
    return found.group(1) if found else "none"


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


def build_docs(document: dict[str, Any]) -> ApiDocs:
    components = document.get("components", {}).get("schemas", {})
    info = document.get("info", {})
    docs = ApiDocs(info.get("title", "API"), info.get("version", ""),
                   info.get("description", ""))
    for path in sorted(document.get("paths", {})):
        methods = document["paths"][path]
        for method in sorted(methods, key=lambda m: (METHOD_ORDER + (m,)).index(m)):
            op = methods[method]
            body_ref = op.get("requestBody", {}).get("content", {}).get(
                "application/json", {}).get("schema")
            body_schema = resolve(body_ref, components) if body_ref else None
            body_name = _ref_name(body_ref) if body_ref else None
            body = None
            if body_schema is not None:
                body = EXAMPLE_BODIES.get(body_name or "") or example_for(body_schema,
                                                                           components)
            responses = []
            for status, resp in sorted(op.get("responses", {}).items()):
                content = resp.get("content", {})
                kinds = []
                for mime, media in content.items():
                    kinds.append(_ref_name(media.get("schema")) or mime)
                responses.append(Response(status, resp.get("description", ""),
                                          ", ".join(kinds)))
            docs.operations.append(Operation(
                method=method.upper(), path=path,
                anchor=f"{method}-{re.sub(r'[^a-z0-9]+', '-', path.lower()).strip('-')}",
                summary=op.get("summary", ""), description=op.get("description", ""),
                scope=_scope(op), parameters=_params(op), body_schema=body_name,
                body_fields=_fields(body_schema) if body_schema else [],
                body_json=json.dumps(body, indent=2) if body is not None else None,
                responses=responses, curl=curl_example(method, path, body),
                client=client_example(method, path, body)))
    docs.schemas = {name: json.dumps(schema, indent=2) for name, schema in
                    sorted(components.items())}
    return docs
