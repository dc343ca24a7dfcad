"""The API reference page at /api/docs: complete, self-contained, and its examples work."""

from __future__ import annotations

import html
import os
import re
import subprocess

import pytest


def page(client) -> str:
    resp = client.get("/api/docs")
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


def section(text: str, method: str, path: str) -> str:
    anchor = method + "-" + re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-")
    start = text.index(f'id="{anchor}"')
    return text[start:text.index("</section>", start)]


def pre(text: str, css_class: str) -> str:
    found = re.search(rf'<pre class="{css_class}">(.*?)</pre>', text, re.S)
    return html.unescape(found.group(1))


def test_every_documented_operation_is_on_the_page(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    text = page(client)
    assert doc["paths"], "the document lists routes"
    for path, methods in doc["paths"].items():
        assert f'<code class="path">{path}</code>' in text, path
        for method, op in methods.items():
            body = section(text, method, path)
            assert op["summary"] in html.unescape(body)
            assert f'<strong class="scope">{op["x-scope"]}</strong>' in body
            assert 'class="curl"' in body and 'class="client"' in body
            for status in op["responses"]:
                assert f'<td class="num">{status}</td>' in body, (method, path, status)
            if "requestBody" in op:
                assert "Request body" in body


def test_request_fields_and_schemas_are_listed(client):
    text = page(client)
    body = section(text, "post", "/api/v1/items")
    for field in ("queue", "output", "confidence", "external_id", "callback_url"):
        assert f"<code>{field}</code>" in body
    assert 'id="schema-ItemIn"' in text and 'id="schema-Item"' in text


def test_page_is_self_contained_under_the_csp(client):
    resp = client.get("/api/docs")
    text = resp.get_data(as_text=True)
    csp = resp.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp and "script-src 'self'" in csp
    # Scripts only as files from this site (base.html's time.js), never inline.
    assert not re.search(r"<script(?![^>]*\bsrc=\"/static/)", text)
    assert "style=" not in text and "<style" not in text
    for url in re.findall(r'(?:src|href)="([^"]+)"', text):
        assert url.startswith(("/", "#")), f"non-local asset {url}"
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
    submit = pre(section(text, "post", "/api/v1/items"), "curl")
    out = subprocess.run(["bash", "-c", submit + " -w '\\n%{http_code}'"], env=env,
                         capture_output=True, text=True, timeout=30)
    body, status = out.stdout.rsplit("\n", 1)
    assert status == "201", out.stdout + out.stderr
    item_id = re.search(r'"id":\s*"([0-9a-f]+)"', body).group(1)
    poll = pre(section(text, "get", "/api/v1/items/{item_id}"), "curl")
    out = subprocess.run(["bash", "-c", poll.replace("ITEM_ID", item_id)
                          + " -w '\\n%{http_code}'"], env=env, capture_output=True, text=True,
                         timeout=30)
    assert out.stdout.endswith("\n200") and item_id in out.stdout


def test_client_examples_run_against_the_service(docs_for_live):
    text, url, key = docs_for_live
    printed: list[tuple] = []
    for method, path in (("post", "/api/v1/items"), ("post", "/api/v1/items/batch")):
        code = pre(section(text, method, path), "client")
        code = code.replace('"http://127.0.0.1:8000"', repr(url)).replace('"rv_..."', repr(key))
        exec(code, {"print": lambda *a: printed.append(a)})  # noqa: S102 - our own docs
    submitted, batch = printed
    assert submitted[1] == "pending" and submitted[2] == "human"
    assert batch[0] == {"created": 2, "replayed": 0, "error": 0}
