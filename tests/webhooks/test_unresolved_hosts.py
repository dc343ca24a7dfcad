"""A webhook host that does not resolve is retried, labelled `unresolved:`; a host
the SSRF guard refuses fails at once, labelled `refused:` (issue 13: both used to
say "refused", while only the second failed).

The worker runs as a real `review worker` process in a mount namespace of its own
whose /etc/resolv.conf names a DNS server on 127.0.0.1 where nothing listens (a
real "temporary failure in name resolution", and no query leaves the machine),
and whose /etc/hosts the test edits: later the name resolves, to a loopback
address, which the guard refuses.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time

import pytest
from sqlalchemy import select

from review.core.models import WebhookAttempt, WebhookDelivery
from tests.conftest import worker_env
from tests.webhooks.conftest import stop_workers
from tests.webhooks.test_webhooks import submit

HOST = "hooks.example.test"


@pytest.fixture(autouse=True)
def hooks_queue(make_queue):
    return make_queue("hooks", audit_rate=0.0)


def _namespaces_work() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "--mount", "true"], capture_output=True, check=False)
    return probe.returncode == 0


@pytest.fixture
def isolated_worker(app, tmp_path):
    """Factory: `isolated_worker(**env)` starts `review worker` with the resolver files
    of tmp_path bound over the machine's; returns (process, hosts file)."""
    if not _namespaces_work():
        pytest.skip("needs `unshare --mount` (root, or user namespaces)")
    resolv, hosts = tmp_path / "resolv.conf", tmp_path / "hosts"
    resolv.write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
    hosts.write_text("127.0.0.1 localhost\n::1 localhost\n")
    procs: list[subprocess.Popen] = []

    def _start(**env: object) -> tuple[subprocess.Popen, object]:
        script = ('mount --bind "$1" /etc/resolv.conf && mount --bind "$2" /etc/hosts '
                  '&& exec "$3" -m review.cli worker')
        proc = subprocess.Popen(
            ["unshare", "--mount", "sh", "-c", script, "sh", str(resolv), str(hosts),
             sys.executable],
            env=worker_env(app, **env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, start_new_session=True)
        procs.append(proc)
        return proc, hosts

    yield _start
    stop_workers(app, procs)
    for proc in procs:
        if proc.stdout:
            proc.stdout.close()


def wait_for_attempts(db, delivery_id: int, done, worker, timeout: float = 60
                      ) -> tuple[WebhookDelivery, list[WebhookAttempt]]:
    """The delivery and its attempt log once `done(attempts)` holds (or at the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        db.rollback()
        delivery = db.get(WebhookDelivery, delivery_id, populate_existing=True)
        attempts = list(db.scalars(select(WebhookAttempt).where(
            WebhookAttempt.delivery_id == delivery_id).order_by(WebhookAttempt.id)))
        if done(attempts) or time.monotonic() > deadline:
            db.rollback()
            return delivery, attempts
        assert worker.poll() is None, worker.stdout.read() if worker.stdout else ""
        time.sleep(0.1)


def test_an_unresolved_host_is_retried_and_a_refused_address_fails_at_once(
        client, auth, db, http_receiver, isolated_worker):
    receiver = http_receiver()
    item = submit(client, auth, callback_url=f"http://{HOST}:{receiver.port}/hook")
    db.rollback()
    delivery_id = db.scalars(select(WebhookDelivery.id).where(
        WebhookDelivery.item_id == item["id"])).one()
    worker, hosts = isolated_worker(WEBHOOK_RETRY_BASE=2, SWEEP_INTERVAL=3600)

    # DNS fails: the attempt is logged as unresolved and a retry is scheduled.
    unresolved = f"unresolved: cannot resolve {HOST}"
    delivery, attempts = wait_for_attempts(db, delivery_id, lambda log: log, worker)
    assert [a.error for a in attempts] == [unresolved]
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert delivery.last_error == unresolved
    assert delivery.next_attempt_at is not None and delivery.last_status_code is None

    # The name resolves now, to a loopback address the guard refuses: failed at once.
    with open(hosts, "a") as file:
        file.write(f"127.0.0.1 {HOST}\n")
    delivery, attempts = wait_for_attempts(
        db, delivery_id, lambda log: log[-1].error != unresolved, worker)
    # (A slow machine may fit one more unresolved retry in before the file changed.)
    assert [a.error for a in attempts[:-1]] == [unresolved] * (len(attempts) - 1)
    assert attempts[-1].error.startswith(f"refused: {HOST} resolves to 127.0.0.1")
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == \
        ("failed", len(attempts), None)
    assert delivery.last_error == attempts[-1].error
    assert receiver.requests == []  # no attempt reached the address
