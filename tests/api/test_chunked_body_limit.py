"""A chunked request body (Transfer-Encoding: chunked, no Content-Length) over
MAX_CONTENT_LENGTH is a 413 in the JSON error shape, over real HTTP: Werkzeug's
limited stream used to stop at the limit silently, so the cut-off JSON was answered
400 invalid_json. A chunked body within the limit still goes through."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from tests.conftest import LiveServer, make_config

LIMIT = 4096


@pytest.fixture
def small_server(app: Flask, database_url: str, redis_url: str,
                 instance_dir: Path) -> Iterator[LiveServer]:
    """The app with a small body limit, on the shared test database (`app` is asked for
    so the database is emptied after the test), served over HTTP on 127.0.0.1."""
    from review.factory import create_app

    small = create_app(make_config(database_url, redis_url, instance_dir,
                                   MAX_CONTENT_LENGTH=LIMIT))
    server = LiveServer(small).start()
    yield server
    server.stop()


def post_chunked(server: LiveServer, key: str, body: bytes) -> tuple[int, dict]:
    port = int(server.url.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        # An iterable body with encode_chunked: http.client sends it chunk by chunk.
        chunks = (body[i:i + 1000] for i in range(0, len(body), 1000))
        conn.request("POST", "/api/v1/items", body=chunks, encode_chunked=True, headers={
            "Authorization": f"Bearer {key}", "Content-Type": "application/json",
            "Transfer-Encoding": "chunked"})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def item(output_size: int) -> bytes:
    return json.dumps({"queue": "support", "confidence": 0.2,
                       "output": "x" * output_size}).encode()


def test_chunked_body_over_the_limit_is_413(small_server, make_queue, submit_key):
    make_queue("support")
    body = item(LIMIT * 3)
    status, answer = post_chunked(small_server, submit_key, body)
    assert status == 413, answer
    assert answer["error"]["code"] == "payload_too_large"
    assert str(LIMIT) in answer["error"]["message"]


def test_chunked_body_one_byte_over_the_limit_is_413(small_server, make_queue, submit_key):
    make_queue("support")
    body = item(LIMIT)
    body = item(LIMIT - (len(body) - LIMIT) + 1)
    assert len(body) == LIMIT + 1
    status, answer = post_chunked(small_server, submit_key, body)
    assert status == 413, answer


def test_chunked_body_exactly_at_the_limit_is_accepted(small_server, make_queue, submit_key):
    make_queue("support")
    body = item(LIMIT)
    body = item(LIMIT - (len(body) - LIMIT))
    assert len(body) == LIMIT
    status, answer = post_chunked(small_server, submit_key, body)
    assert status == 201, answer
    assert answer["output"] == "x" * (LIMIT - (len(item(LIMIT)) - LIMIT))
