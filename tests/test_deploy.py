"""The deployment recipe in deploy/: the smoke script runs the Procfile's web and
worker processes (gunicorn + one RQ worker) and an item goes through them."""

from __future__ import annotations

import os
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PG_URL, REDIS_URL, _create_pg_database, _drop_pg_database

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
VENV_BIN = Path(sys.executable).parent


def smoke_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "PRODUCTION", "PORT",
                        "BIND", "LOG_FORMAT", "REDIS_PREFIX", "INSTANCE_DIR")}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHON"] = sys.executable
    env.update(extra)
    return env


@pytest.fixture
def smoke_database():
    """The suite's database kind: a fresh PostgreSQL database, or the script's own SQLite."""
    if not PG_URL:
        yield {}
        return
    url, name = _create_pg_database(PG_URL)
    yield {"DATABASE_URL": url.replace("postgresql+psycopg://", "postgresql://"),
           "REDIS_URL": REDIS_URL}
    _drop_pg_database(PG_URL, name)


def test_smoke_script_runs_gunicorn_and_a_worker(smoke_database):
    env = smoke_env(**{k: v for k, v in smoke_database.items() if v})
    proc = subprocess.run(["bash", str(DEPLOY / "smoke.sh")], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "smoke: OK" in proc.stdout
    assert '"status":"ok"' in proc.stdout  # healthz: database and Redis reachable
    assert "(checking)" in proc.stdout and ": approved" in proc.stdout


def test_smoke_script_fails_loudly():
    env = smoke_env(DATABASE_URL="postgresql://postgres@127.0.0.1:1/nowhere")
    proc = subprocess.run(["bash", str(DEPLOY / "smoke.sh")], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "smoke: FAILED: review db upgrade" in proc.stderr
    assert "release.log" in proc.stderr  # the logs are shown


def test_procfile_processes():
    lines = dict(line.split(":", 1) for line in (DEPLOY / "Procfile").read_text().splitlines()
                 if line and not line.startswith("#"))
    assert lines["web"].strip() == \
        "gunicorn -c deploy/gunicorn.conf.py 'review.factory:create_app()'"
    assert lines["worker"].strip() == "review worker"
    assert lines["release"].strip() == "review db upgrade"


@pytest.mark.parametrize("env, bind", [
    ({}, "127.0.0.1:8000"),
    ({"PORT": "5000"}, "0.0.0.0:5000"),
    ({"BIND": "unix:/run/review.sock", "PORT": "5000"}, "unix:/run/review.sock"),
])
def test_gunicorn_config_reads_the_environment(monkeypatch, env, bind):
    for name in ("BIND", "PORT", "WEB_CONCURRENCY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    conf = runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))
    assert conf["bind"] == bind and conf["workers"] == 3
    assert conf["worker_class"] == "gthread" and conf["preload_app"] is False


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze missing")
def test_systemd_units_verify(tmp_path):
    # The units point at /srv/review/venv; verify them against this venv instead.
    for name, target in (("review-web.service", "review-web.service"),
                         ("review-worker@.service", "review-worker@1.service")):
        text = (DEPLOY / name).read_text().replace("/srv/review/venv/bin", str(VENV_BIN))
        (tmp_path / target).write_text(text)
    proc = subprocess.run(["systemd-analyze", "verify", "--man=no",
                           str(tmp_path / "review-web.service"),
                           str(tmp_path / "review-worker@1.service")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    web = (DEPLOY / "review-web.service").read_text()
    assert 'gunicorn -c /etc/review/gunicorn.conf.py "review.factory:create_app()"' in web
    assert "ExecStartPre=/srv/review/venv/bin/review db upgrade" in web
    assert "ExecStart=/srv/review/venv/bin/review worker" in (
        DEPLOY / "review-worker@.service").read_text()
