"""Configuration from the environment; production refuses to start without SECRET_KEY."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from review.core.settings import ConfigError, Settings

ROOT = Path(__file__).resolve().parents[2]
# Settings for developers and tests only: everything else is documented for operators.
INTERNAL = {"TESTING", "WTF_CSRF_ENABLED"}


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {f.name for f in
                                                             dataclasses.fields(Settings)}}
    env.update(INSTANCE_DIR=str(tmp_path / "instance"), **extra)
    return env


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_production_without_secret_key_refuses_to_start_cli(tmp_path):
    proc = run([sys.executable, "-m", "review.cli", "db", "upgrade"],
               clean_env(tmp_path, PRODUCTION="1"), tmp_path)
    assert proc.returncode != 0
    assert "SECRET_KEY is not set" in proc.stderr and "PRODUCTION=1" in proc.stderr
    assert "Traceback" not in proc.stderr  # a message, not a stack trace
    assert not (tmp_path / "instance" / "review.db").exists()


def test_production_without_secret_key_refuses_create_app(tmp_path):
    proc = run([sys.executable, "-c", "from review.factory import create_app; create_app()"],
               clean_env(tmp_path, PRODUCTION="true"), ROOT)
    assert proc.returncode != 0
    assert "ConfigError: SECRET_KEY is not set" in proc.stderr


def test_production_with_secret_key_starts(tmp_path):
    proc = run([sys.executable, "-m", "review.cli", "db", "upgrade"],
               clean_env(tmp_path, PRODUCTION="1", SECRET_KEY="k" * 64), tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "instance" / "review.db").exists()
    # Production does not invent a per-install secret file.
    assert not (tmp_path / "instance" / "secret_key").exists()


def test_from_env_reads_typed_values(tmp_path, monkeypatch):
    for key, value in {
        "INSTANCE_DIR": str(tmp_path), "LEASE_SECONDS": "120", "AT_RISK_RATIO": "0.5",
        "PRODUCTION": "yes", "SECRET_KEY": "s3cret", "CHECK_TIMEOUT": "2.5",
        "ALLOWED_CALLBACK_HOSTS": "hooks.example.com, 10.0.0.5", "LOG_FORMAT": "text",
        "DATABASE_URL": "postgresql://review@db/review", "REDIS_PREFIX": "rv",
    }.items():
        monkeypatch.setenv(key, value)
    cfg = Settings.from_env()
    assert cfg.LEASE_SECONDS == 120 and cfg.AT_RISK_RATIO == 0.5 and cfg.CHECK_TIMEOUT == 2.5
    assert cfg.PRODUCTION is True and cfg.SESSION_COOKIE_SECURE is True
    assert cfg.ALLOWED_CALLBACK_HOSTS == ["hooks.example.com", "10.0.0.5"]
    assert cfg.DATABASE_URL == "postgresql+psycopg://review@db/review"
    assert cfg.LOG_FORMAT == "text" and cfg.REDIS_PREFIX == "rv"


def test_defaults_suit_the_embedded_mode(tmp_path, monkeypatch):
    for f in dataclasses.fields(Settings):
        monkeypatch.delenv(f.name, raising=False)
    cfg = Settings.from_env(INSTANCE_DIR=str(tmp_path))
    assert cfg.DATABASE_URL.startswith("sqlite:///") and cfg.REDIS_URL == ""
    assert len(cfg.SECRET_KEY) == 64 and (tmp_path / "secret_key").exists()
    assert Settings.from_env(INSTANCE_DIR=str(tmp_path)).SECRET_KEY == cfg.SECRET_KEY


@pytest.mark.parametrize("name, value, message", [
    ("LEASE_SECONDS", "fifteen", "LEASE_SECONDS='fifteen' is not an integer"),
    ("AT_RISK_RATIO", "most", "AT_RISK_RATIO='most' is not a number"),
    ("LOG_FORMAT", "xml", "use json or text"),
])
def test_bad_values_are_clear_errors(tmp_path, monkeypatch, name, value, message):
    monkeypatch.setenv("INSTANCE_DIR", str(tmp_path))
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=message):
        Settings.from_env()


def test_every_setting_is_in_the_configuration_table():
    page = (ROOT / "docs" / "configuration.md").read_text()
    table = "\n".join(line for line in page.splitlines() if line.startswith("|"))
    missing = [f.name for f in dataclasses.fields(Settings)
               if f.name not in INTERNAL and f"`{f.name}`" not in table]
    assert not missing, f"document these in the table of docs/configuration.md: {missing}"


def test_default_sla_applies_to_queues_without_one(database_url, redis_url, instance_dir, app):
    from app import create_app
    from review.core.queues import validate_policy
    from tests.conftest import make_config

    other = create_app(make_config(database_url, redis_url, instance_dir,
                                   DEFAULT_SLA_SECONDS=600))
    with other.app_context():
        assert validate_policy("q", {})["sla_seconds"] == 600
        assert validate_policy("q", {"sla_seconds": 60})["sla_seconds"] == 60
    other.extensions["review.engine"].dispose()
    assert validate_policy("q", {})["sla_seconds"] == 3600
