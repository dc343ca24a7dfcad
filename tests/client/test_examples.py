"""examples/upstream.py, run as a new user would: a toy upstream integrates with the
client in under 20 lines, and its decision arrives as a webhook it verifies."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from review.core.models import ApiKey
from tests.conftest import free_port

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "upstream.py"


def test_example_is_under_20_lines():
    code = [line for line in EXAMPLE.read_text().splitlines()
            if line.strip() and not line.strip().startswith(("#", '"""'))]
    assert len(code) < 20, len(code)


def test_toy_upstream_receives_a_verified_webhook(live_server, make_queue, submit_key, db,
                                                  rq_worker):
    make_queue("demo", audit_rate=0.0)
    secret = db.scalar(select(ApiKey.webhook_secret).where(ApiKey.name == "upstream"))
    env = {**os.environ, "REVIEW_URL": live_server.url, "REVIEW_KEY": submit_key,
           "REVIEW_WEBHOOK_SECRET": secret, "HOOK_PORT": str(free_port())}
    proc = subprocess.Popen([sys.executable, str(EXAMPLE)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        submitted = proc.stdout.readline()
        assert re.fullmatch(r"submitted: [0-9a-f]{32} approved\n", submitted), (
            submitted + proc.stderr.read() if proc.poll() is not None else submitted)
        rq_worker()  # the service's worker delivers the signed webhook
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert out == "decided: approved Refunds are sent within 5 days.\n"


def test_a_forged_webhook_is_refused(live_server, make_queue, submit_key, rq_worker, db):
    make_queue("demo", audit_rate=0.0)
    env = {**os.environ, "REVIEW_URL": live_server.url, "REVIEW_KEY": submit_key,
           "REVIEW_WEBHOOK_SECRET": "whsec_not_the_real_one", "HOOK_PORT": str(free_port())}
    proc = subprocess.Popen([sys.executable, str(EXAMPLE)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().startswith("submitted:")
        rq_worker()
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert "decided" not in out
    assert "WebhookVerificationError" in err and "bad_signature" in err
