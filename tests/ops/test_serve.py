"""The embedded default: `review serve` on a fresh directory works end to end."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import requests


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_serve(directory):
    """Start `review serve` in `directory`; return (process, port, output so far)."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "review.cli", "serve", "--port", str(port)],
        cwd=directory, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "review is up at" in line:
            break
    return proc, port, "".join(lines)


def stop(proc) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=20)


def test_serve_bootstraps_and_accepts_items(tmp_path):
    proc, port, output = start_serve(tmp_path)
    try:
        _check_running_service(port, output, tmp_path)
    finally:
        stop(proc)
    # A restart keeps the data and prints no new secrets.
    proc, port, output = start_serve(tmp_path)
    try:
        assert "review is up at" in output, output
        assert "submit API key" not in output
    finally:
        stop(proc)


def _check_running_service(port, output, tmp_path):
    assert "review is up at" in output, output
    key = re.search(r"submit API key:\s+(\S+)", output).group(1)
    password = re.search(r"admin login:\s+admin / (\S+)", output).group(1)
    assert (tmp_path / "instance" / "review.db").exists()
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {key}"}
    resp = requests.post(f"{base}/api/v1/items", headers=headers, timeout=10, json={
        "queue": "demo", "output": "Refunds are sent within 5 days.", "confidence": 0.3})
    assert resp.status_code == 201, resp.text
    item = resp.json()
    polled = requests.get(f"{base}/api/v1/items/{item['id']}", headers=headers, timeout=10)
    assert polled.json()["status"] == "pending"
    # The home page asks for a login, and the printed admin password works.
    session = requests.Session()
    login_page = session.get(f"{base}/login", timeout=10).text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login_page).group(1)
    home = session.post(f"{base}/login", data={"csrf_token": token, "name": "admin",
                                               "password": password}, timeout=10)
    assert home.status_code == 200 and "demo" in home.text


def test_serve_answers_sixteen_concurrent_keep_alive_clients_without_socket_errors(tmp_path):
    """The embedded default runs a production server: 16 clients on kept-alive connections
    all get their answers (werkzeug's development server dropped some as socket errors)."""
    proc, port, output = start_serve(tmp_path)
    try:
        key = re.search(r"submit API key:\s+(\S+)", output).group(1)
        base = f"http://127.0.0.1:{port}"
        assert requests.get(f"{base}/healthz", timeout=10).headers["Server"] == "review"

        def client(n: int) -> list[int]:
            with requests.Session() as session:
                session.headers["Authorization"] = f"Bearer {key}"
                return [session.post(f"{base}/api/v1/items", timeout=30, json={
                    "queue": "demo", "external_id": f"c{n}-{i}", "output": "ok",
                    "confidence": 0.3}).status_code for i in range(20)]

        with ThreadPoolExecutor(16) as pool:
            codes = [c for result in pool.map(client, range(16)) for c in result]
        assert codes.count(201) == 320, codes
    finally:
        stop(proc)
