"""Two of everything: two web nodes (separate gunicorn masters on two ports) and two
`review worker` processes against one PostgreSQL, reached through PgBouncer in
transaction pooling mode, and one Redis. Submitters and reviewers are spread over both
nodes. Afterwards every accepted item exists, was decided exactly once with a complete
audit trail and delivered its webhook (the chaos run's checks), and every periodic job
ran once per interval, not once per worker.

PostgreSQL only (TEST_DATABASE_URL); needs Debian's pgbouncer (.ci/run installs it).
About a minute.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest

from tests.chaos.harness import (
    Database,
    PrivateRedis,
    Proc,
    Supervisor,
    Switchable,
    free_port,
    judge,
    wait_port,
)
from tests.chaos.load import Record, Reviewer, Submitter
from tests.chaos.test_chaos import REVIEWERS, outstanding, seed, verify
from tests.conftest import PG_URL, _create_pg_database, _drop_pg_database, make_config

PGBOUNCER = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer"
                                          if Path("/usr/sbin/pgbouncer").exists() else None)
pytestmark = [
    pytest.mark.skipif(not PG_URL, reason="scale-out runs on PostgreSQL (TEST_DATABASE_URL)"),
    pytest.mark.skipif(not PGBOUNCER, reason="pgbouncer is not installed"),
    pytest.mark.slow,
]

LOAD_SECONDS = 25
SWEEP_INTERVAL = 2
SETTINGS = dict(
    LEASE_SECONDS=30, SWEEP_INTERVAL=SWEEP_INTERVAL, SLA_TICK_INTERVAL=3,
    WEBHOOK_TIMEOUT=3, WEBHOOK_RETRY_BASE=0.5, WEBHOOK_RETRY_MAX_DELAY=3,
    INGEST_RATE_LIMIT=1_000_000, ALERT_EVAL_INTERVAL=5, CHECK_TIMEOUT=3,
)


class PgBouncer:
    """pgbouncer in transaction pooling mode in front of the shared PostgreSQL server.

    pgbouncer refuses to run as root; as root it is started with `-u postgres`, so its
    directory must be that user's to write in."""

    def __init__(self, server_url: str) -> None:
        match = re.match(r"postgresql(?:\+\w+)?://([^@/]+)@([^:/]+):(\d+)/", server_url)
        if not match:
            pytest.skip(f"cannot read user, host and port from {server_url}")
        user, host, port = match.groups()
        self.dir = Path(tempfile.mkdtemp(prefix="review-pgbouncer-"))
        self.dir.chmod(stat.S_IRWXU | stat.S_IRWXG | stat.S_IRWXO)
        self.port = free_port()
        (self.dir / "users.txt").write_text(f'"{user}" ""\n')
        (self.dir / "pgbouncer.ini").write_text(f"""[databases]
* = host={host} port={port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = trust
auth_file = {self.dir}/users.txt
pool_mode = transaction
max_client_conn = 500
default_pool_size = 20
ignore_startup_parameters = extra_float_digits,options
""")
        argv = [PGBOUNCER, str(self.dir / "pgbouncer.ini")]
        if os.geteuid() == 0:
            argv[1:1] = ["-u", "postgres"]
        self.proc = Proc("pgbouncer", argv, dict(os.environ), self.dir)
        self.proc.start()
        wait_port(self.port)
        self.user = user

    def url(self, database: str) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        self.proc.kill9()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def cluster(tmp_path):
    from review.core.migrate import upgrade

    direct_url, name = _create_pg_database(PG_URL)
    upgrade(direct_url)  # migrations take a direct connection (docs/scaling.md)
    bouncer = PgBouncer(PG_URL)
    pooled_url = bouncer.url(name)
    redis = PrivateRedis(tmp_path)
    redis.up()
    checker = Switchable(judge, hang_for=3)
    receiver = Switchable(lambda _body: {"ok": True}, hang_for=3)
    prefix = "scale"
    cfg = make_config(pooled_url, redis.url, tmp_path, REDIS_PREFIX=prefix,
                      DATABASE_TRANSACTION_POOLER=True, **SETTINGS)
    keys = seed(cfg, checker.url, receiver.url)

    env = {k: v for k, v in os.environ.items() if not k.startswith("TEST_")}
    env.update({k: str(v) for k, v in SETTINGS.items()})
    env.update(DATABASE_URL=pooled_url, DATABASE_TRANSACTION_POOLER="1", REDIS_URL=redis.url,
               REDIS_PREFIX=prefix, SECRET_KEY=cfg.SECRET_KEY, INSTANCE_DIR=str(tmp_path),
               ALLOWED_CALLBACK_HOSTS="127.0.0.1")
    ports = [free_port(), free_port()]
    nodes = [Proc(f"web-{n}", [sys.executable, "-m", "gunicorn", "-w", "2", "--threads", "4",
                               "-b", f"127.0.0.1:{port}", "--timeout", "30",
                               "review.factory:create_app()"], env, tmp_path)
             for n, port in enumerate(ports, 1)]
    workers = [Proc(f"worker-{n}", [sys.executable, "-m", "review.cli", "worker"], env,
                    tmp_path) for n in (1, 2)]
    supervisor = Supervisor([*nodes, *workers])
    supervisor.start()
    for port in ports:
        wait_port(port)
    db = Database(PG_URL, direct_url, name)
    try:
        yield dict(db=db, receiver=receiver, keys=keys, workers=workers, logs=tmp_path,
                   bases=[f"http://127.0.0.1:{port}" for port in ports], prefix=prefix)
    finally:
        supervisor.stop()
        redis.down()
        checker.stop()
        receiver.stop()
        db.dispose()
        bouncer.stop()
        _drop_pg_database(PG_URL, name)


def periodic_runs(logs: Path, workers: list[Proc], prefix: str, job: str) -> dict[str, set]:
    """slot job id -> the workers whose log says they ran it."""
    pattern = re.compile(rf"{re.escape(prefix)}-periodic-{job}-\d+")
    ran: dict[str, set] = defaultdict(set)
    for worker in workers:
        for job_id in pattern.findall(worker.log_path.read_text(errors="replace")):
            ran[job_id].add(worker.name)
    return ran


def test_two_web_nodes_and_two_workers_through_pgbouncer_lose_nothing(cluster):
    c = cluster
    # One record per node: each client talks to one node only.
    by_node = [Record(), Record()]
    stop_ingest, give_up, stop_review = threading.Event(), threading.Event(), threading.Event()
    bases = c["bases"]
    submitters = [Submitter(n, bases[n % 2], c["keys"]["submit"], by_node[n % 2], stop_ingest,
                            give_up) for n in range(4)]
    reviewers = [Reviewer(name, bases[n % 2], c["keys"]["review"][name], by_node[n % 2],
                          stop_review) for n, name in enumerate(REVIEWERS)]
    started = time.monotonic()
    for t in (*submitters, *reviewers):
        t.start()
    time.sleep(LOAD_SECONDS)
    stop_ingest.set()
    give_up.set()
    for t in submitters:
        t.join(timeout=30)

    record = Record(accepted={**by_node[0].accepted, **by_node[1].accepted},
                    decisions_ok=by_node[0].decisions_ok + by_node[1].decisions_ok)
    ids = set(record.accepted.values())
    deadline = time.monotonic() + 120
    while (left := outstanding(c["db"], ids)) != (0, 0):
        assert time.monotonic() < deadline, f"not drained: {left} (logs in {c['logs']})"
        time.sleep(1)
    stop_review.set()
    for t in reviewers:
        t.join(timeout=30)
    elapsed = time.monotonic() - started

    for node in by_node:  # both nodes took items and decisions, and never failed
        assert len(node.accepted) > 20 and node.decisions_ok, node.statuses
        assert node.unexpected == [] and node.connection_errors == 0, node.unexpected
    assert all(n == 1 for n in record.decisions_ok.values())
    verify(c, record, ids)

    # Periodic jobs: each slot ran on exactly one of the two workers, and about one slot
    # ran per interval (not one per worker).
    sweeps = periodic_runs(c["logs"], c["workers"], c["prefix"], "sweep")
    assert sweeps, "no sweep ran"
    assert all(len(by) == 1 for by in sweeps.values()), sweeps
    expected = elapsed / SWEEP_INTERVAL
    assert 0.5 * expected <= len(sweeps) <= expected + 2, (len(sweeps), expected)
