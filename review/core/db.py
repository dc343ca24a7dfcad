"""Engine and the one session-per-request helper.

Views and jobs call `get_session()`; the session is removed at the end of the
request (or job) so no connection or transaction outlives its unit of work.
"""

from __future__ import annotations

import logging
import select
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from flask import Flask, current_app, g
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from review.core.settings import settings

T = TypeVar("T")
SQLITE_BUSY_MS = 30000  # how long a SQLite writer waits for the write lock


def make_engine(url: str, *, transaction_pooler: bool = False) -> Engine:
    """The engine for `url`. `transaction_pooler`: the URL is a pooler in transaction mode
    (PgBouncer `pool_mode = transaction`), where each transaction may run on another server
    connection, so psycopg must not prepare statements on the server (it does after five
    runs of a query). Advisory locks are transaction-scoped and nothing uses session
    `SET` or `LISTEN`, so nothing else needs a session of its own."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
            # WAL lets readers run beside one writer; busy_timeout queues writers
            # instead of failing them; foreign keys are off by default in SQLite.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    connect_args = {"prepare_threshold": None} if transaction_pooler else {}
    engine = create_engine(url, pool_size=10, max_overflow=20, connect_args=connect_args)
    event.listen(engine, "checkout", _drop_if_closed_by_server)
    return engine


def _drop_if_closed_by_server(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
    """A free liveness check at checkout, instead of pre-ping's round trip per request.

    An idle connection has nothing to read unless the server closed it (a restart, a
    terminated backend: PostgreSQL sends its FATAL notice, then EOF), so a readable
    socket means dead and the pool connects afresh. Silent network failures are not
    seen here; they fail the request with a 503 and the pool is invalidated.
    """
    if dbapi_conn.closed or dbapi_conn.broken:
        raise DisconnectionError("connection closed")
    readable, _, _ = select.select([dbapi_conn.pgconn.socket], [], [], 0)
    if readable:
        raise DisconnectionError("the server closed the connection")


def init_db(app: Flask) -> None:
    engine = make_engine(settings(app).DATABASE_URL,
                         transaction_pooler=settings(app).DATABASE_TRANSACTION_POOLER)
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    _install_after_commit_hooks(factory)
    app.extensions["review.engine"] = engine
    app.extensions["review.sessionmaker"] = factory
    if settings(app).REPORTS_DATABASE_URL:
        app.extensions["review.reports_sessionmaker"] = sessionmaker(
            bind=make_engine(settings(app).REPORTS_DATABASE_URL,
                             transaction_pooler=settings(app).DATABASE_TRANSACTION_POOLER),
            expire_on_commit=False)

    @app.teardown_appcontext
    def _remove_session(_exc: BaseException | None) -> None:
        for name in ("db_session", "reports_session"):
            _close(g.pop(name, None))


def _close(session: Session | None) -> None:
    if session is not None:
        try:
            session.close()
        except DBAPIError as exc:
            # The connection died after the request's work was done (the
            # database restarted or cut us off): its response already says
            # what happened, so only drop the connection; raising here
            # would turn that response into a 500.
            logging.getLogger(__name__).warning("closing a dead connection: %s",
                                                exc.__class__.__name__)
            session.invalidate()


def get_engine() -> Engine:
    engine: Engine = current_app.extensions["review.engine"]
    return engine


def get_session() -> Session:
    """The session of the current request or job, created on first use."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["review.sessionmaker"]()
    session: Session = g.db_session
    return session


def get_reports_session() -> Session:
    """The session reports read with: one on the read replica when REPORTS_DATABASE_URL
    is set, else the request's own session. Nothing is written through it (a replica
    would refuse), so a report never commits; a replica's lag shows as slightly older
    figures, never as a lost write."""
    factory = current_app.extensions.get("review.reports_sessionmaker")
    if factory is None:
        return get_session()
    if "reports_session" not in g:
        g.reports_session = factory()
    session: Session = g.reports_session
    return session


def close_after(session: Session, chunks: Iterable[T]) -> Iterator[T]:
    """A streamed response's body that closes `session` once the last chunk is out (or
    the client went away).

    Flask tears the request down, closing its session, when the view returns, before the
    body streams; the body's queries then begin a new transaction on the same Session
    object, which nothing else would ever end (an idle-in-transaction connection per
    download)."""
    try:
        yield from chunks
    finally:
        session.close()


@contextmanager
def session_scope() -> Iterator[Session]:
    """A separate short transaction, for work that must commit on its own."""
    session: Session = current_app.extensions["review.sessionmaker"]()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def is_postgres() -> bool:
    return get_engine().dialect.name == "postgresql"


def after_commit(session: Session, func: Callable[..., object], *args: object) -> None:
    """Run `func(*args)` once the session's transaction has committed.

    Jobs are enqueued only after commit so a worker never sees an item the
    database does not have yet, and a rolled-back request enqueues nothing.
    """
    session.info.setdefault("after_commit", []).append((func, args))


def _install_after_commit_hooks(factory: sessionmaker[Session]) -> None:
    @event.listens_for(factory, "after_commit")
    def _run(session: Session) -> None:
        for func, args in session.info.pop("after_commit", []):
            func(*args)

    @event.listens_for(factory, "after_rollback")
    def _drop(session: Session) -> None:
        session.info.pop("after_commit", None)
