"""REDIS_SENTINELS instead of REDIS_URL: the app finds its Redis master through a real
Redis Sentinel started here (redis-server --sentinel), runs jobs on it, and finds the
new master after a failover."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import SimpleWorker

from review.core.jobs import enqueue, get_redis, rq_queue, sentinel_address
from review.core.settings import ConfigError, Settings
from tests.chaos.harness import Proc, free_port, wait_port
from tests.conftest import make_config

REDIS_SERVER = shutil.which("redis-server")
pytestmark = pytest.mark.skipif(not REDIS_SERVER, reason="needs redis-server")


def _redis(log_dir: Path, name: str, *extra: str) -> tuple[Proc, int]:
    port = free_port()
    proc = Proc(name, [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                       "--appendonly", "no", *extra], {}, log_dir)
    proc.start()
    wait_port(port)
    return proc, port


@pytest.fixture
def sentinel_set(tmp_path):
    """A master, its replica and one sentinel watching them as `reviewmaster`."""
    master, master_port = _redis(tmp_path, "master")
    replica, replica_port = _redis(tmp_path, "replica", "--replicaof", "127.0.0.1",
                                   str(master_port))
    sentinel_port = free_port()
    conf = tmp_path / "sentinel.conf"  # a sentinel rewrites its own config file
    conf.write_text(
        f"port {sentinel_port}\nbind 127.0.0.1\n"
        f"sentinel monitor reviewmaster 127.0.0.1 {master_port} 1\n"
        "sentinel down-after-milliseconds reviewmaster 1000\n"
        "sentinel failover-timeout reviewmaster 5000\n")
    sentinel = Proc("sentinel", [REDIS_SERVER, str(conf), "--sentinel"], {}, tmp_path)
    sentinel.start()
    wait_port(sentinel_port)
    try:
        yield dict(master=master, master_port=master_port, replica_port=replica_port,
                   sentinels=[f"127.0.0.1:{sentinel_port}"])
    finally:
        for proc in (sentinel, replica, master):
            proc.kill9()


def _app(tmp_path, sentinels):
    from review.factory import create_app

    cfg = make_config(f"sqlite:///{tmp_path / 'review.db'}", "", tmp_path,
                      REDIS_SENTINELS=sentinels, REDIS_SENTINEL_SERVICE="reviewmaster")
    from review.core.migrate import upgrade

    upgrade(cfg.DATABASE_URL)
    return create_app(cfg)


def _port_of(conn: Redis) -> int:
    return int(conn.info("server")["tcp_port"])


def test_jobs_run_on_the_master_the_sentinel_names_and_follow_a_failover(tmp_path,
                                                                        sentinel_set):
    app = _app(tmp_path, sentinel_set["sentinels"])
    with app.app_context():
        conn = get_redis(app)
        assert _port_of(conn) == sentinel_set["master_port"]
        assert enqueue("default", "builtins.len", "four")
        queue = rq_queue("default", app)
        job = queue.jobs[0]
        SimpleWorker([queue], connection=conn).work(burst=True)
        job.refresh()
        assert job.is_finished and job.return_value() == 4

        # The master dies: the sentinel promotes the replica, and the same client finds it.
        sentinel_set["master"].kill9()
        deadline = time.monotonic() + 30
        while True:
            try:
                conn.set("after-failover", "1")
                break
            except (RedisConnectionError, RedisTimeoutError, ReadOnlyError):
                assert time.monotonic() < deadline, "no new master within 30 s"
                time.sleep(0.2)
        assert _port_of(conn) == sentinel_set["replica_port"]
        assert enqueue("default", "builtins.len", "ab")
        SimpleWorker([rq_queue("default", app)], connection=conn).work(burst=True)
        assert rq_queue("default", app).finished_job_registry.count == 2


def test_sentinel_settings_are_checked(tmp_path):
    assert sentinel_address("10.0.0.5:26380") == ("10.0.0.5", 26380)
    assert sentinel_address("sentinel-1") == ("sentinel-1", 26379)
    assert sentinel_address("[::1]:26379") == ("::1", 26379)
    with pytest.raises(ConfigError, match="REDIS_URL or REDIS_SENTINELS"):
        Settings(INSTANCE_DIR=str(tmp_path), REDIS_URL="redis://127.0.0.1:6379/0",
                 REDIS_SENTINELS=["127.0.0.1:26379"]).finalise()
