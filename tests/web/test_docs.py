"""The API reference page at /api/docs: Swagger UI from this server, a curl and client
sample for every operation, self-contained under the CSP, and the samples work."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest


def page(client) -> str:
    resp = client.get("/api/docs")
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


def samples(text: str) -> dict[str, dict[str, str]]:
    """The page's code samples (the JSON block the Swagger UI plugin shows)."""
    found = re.search(r'<script type="application/json" id="code-samples">(.*?)</script>',
                      text, re.S)
    return json.loads(found.group(1))


def test_every_documented_operation_has_its_samples(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    given = samples(page(client))
    assert doc["paths"], "the document lists routes"
    expected = {f"{method.upper()} {path}" for path, methods in doc["paths"].items()
                for method in methods}
    assert set(given) == expected
    for key, sample in given.items():
        method, path = key.split(" ", 1)
        assert sample["curl"].startswith(f"curl -s -X {method} ")
        assert "ReviewClient(" in sample["client"]
    assert "'Content-Type: application/json'" in given["POST /api/v1/items"]["curl"]


def test_page_loads_swagger_ui_from_this_server_under_the_csp(client):
    resp = client.get("/api/docs")
    text = resp.get_data(as_text=True)
    csp = resp.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp and "script-src 'self'" in csp
    # Scripts are files of this server; the one inline block is data, never run.
    for tag in re.findall(r"<script\b[^>]*>", text):
        assert 'src="/' in tag or 'type="application/json"' in tag, tag
    assert "style=" not in text and "<style" not in text
    for url in re.findall(r'(?:src|href)="([^"]+)"', text):
        assert url.startswith(("/", "#")), f"non-local asset {url}"
    assert 'data-spec="/api/v1/openapi.json"' in text
    bundle = client.get("/api/docs/swagger-ui/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and "SwaggerUIBundle" in bundle.get_data(as_text=True)
    assert client.get("/api/docs/swagger-ui/swagger-ui.css").status_code == 200
    for other in ("swagger-editor-bundle.js", "index.css", "..%2F__init__.py"):
        assert client.get(f"/api/docs/swagger-ui/{other}").status_code == 404, other
    assert client.get("/static/api_docs.js").status_code == 200
    assert client.get("/static/docs.css").status_code == 200


@pytest.fixture
def docs_for_live(live_server, make_queue, submit_key):
    make_queue("support", audit_rate=0.0)
    import requests

    text = requests.get(f"{live_server.url}/api/docs", timeout=10).text
    return text, live_server.url, submit_key


def test_curl_examples_run_against_the_service(docs_for_live):
    text, url, key = docs_for_live
    env = {**os.environ, "REVIEW_URL": url, "REVIEW_KEY": key}
    submit = samples(text)["POST /api/v1/items"]["curl"]
    out = subprocess.run(["bash", "-c", submit + " -w '\\n%{http_code}'"], env=env,
                         capture_output=True, text=True, timeout=30)
    body, status = out.stdout.rsplit("\n", 1)
    assert status == "201", out.stdout + out.stderr
    item_id = re.search(r'"id":\s*"([0-9a-f]+)"', body).group(1)
    poll = samples(text)["GET /api/v1/items/{item_id}"]["curl"]
    out = subprocess.run(["bash", "-c", poll.replace("ITEM_ID", item_id)
                          + " -w '\\n%{http_code}'"], env=env, capture_output=True, text=True,
                         timeout=30)
    assert out.stdout.endswith("\n200") and item_id in out.stdout


def test_client_examples_run_against_the_service(docs_for_live):
    text, url, key = docs_for_live
    printed: list[tuple] = []
    for method, path in (("post", "/api/v1/items"), ("post", "/api/v1/items/batch")):
        code = samples(text)[f"{method.upper()} {path}"]["client"]
        code = code.replace('"http://127.0.0.1:8000"', repr(url)).replace('"rv_..."', repr(key))
        exec(code, {"print": lambda *a: printed.append(a)})  # noqa: S102 - our own docs
    submitted, batch = printed
    assert submitted[1] == "pending" and submitted[2] == "human"
    assert batch[0] == {"created": 2, "replayed": 0, "error": 0}
