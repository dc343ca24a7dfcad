"""The OpenAPI document stays true to the code."""

from __future__ import annotations

import re

from openapi_spec_validator import validate


def _openapi_path(rule: str) -> str:
    # Converters may carry arguments, e.g. <int(max=9223372036854775807):id>.
    return re.sub(r"<(?:\w+(?:\([^)]*\))?:)?(\w+)>", r"{\1}", rule)


def test_document_is_valid_openapi_31(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    validate(doc)


def test_every_api_route_is_documented(app, client):
    doc = client.get("/api/v1/openapi.json").get_json()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.rule.endswith("openapi.json"):
            continue
        path = _openapi_path(rule.rule)
        assert path in doc["paths"], f"{rule.rule} is missing from the OpenAPI document"
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in doc["paths"][path], f"{method} {rule.rule} undocumented"


def test_documented_routes_exist(app, client):
    doc = client.get("/api/v1/openapi.json").get_json()
    rules = {_openapi_path(r.rule) for r in app.url_map.iter_rules()}
    assert set(doc["paths"]) <= rules
