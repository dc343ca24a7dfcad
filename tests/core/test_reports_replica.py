"""REPORTS_DATABASE_URL: reports read from a read replica, everything else from the
primary. The "replica" here is a second database with the same schema, so a test can
tell which one a read came from."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from review.core.db import get_reports_session, get_session
from review.core.migrate import upgrade
from review.core.models import Queue
from tests.conftest import PG_URL, _create_pg_database, _drop_pg_database, make_config


@pytest.fixture
def two_databases(tmp_path):
    """(primary URL, replica URL), both migrated, on PostgreSQL when the suite runs there."""
    if PG_URL:
        made = [_create_pg_database(PG_URL) for _ in range(2)]
        urls = [url for url, _ in made]
    else:
        urls = [f"sqlite:///{tmp_path / name}.db" for name in ("primary", "replica")]
    for url in urls:
        upgrade(url)
    yield urls
    if PG_URL:
        for _, name in made:
            _drop_pg_database(PG_URL, name)


def _app(tmp_path, primary: str, **overrides):
    from review.factory import create_app

    return create_app(make_config(primary, "", tmp_path, **overrides))


def test_without_a_replica_reports_share_the_request_session(tmp_path, two_databases):
    app = _app(tmp_path, two_databases[0])
    with app.app_context():
        assert get_reports_session() is get_session()


def test_reports_read_the_replica_and_writes_go_to_the_primary(tmp_path, two_databases):
    primary, replica = two_databases
    app = _app(tmp_path, primary, REPORTS_DATABASE_URL=replica)
    with app.app_context():
        get_session().add(Queue(slug="on-primary", name="primary"))
        get_session().commit()
        assert get_reports_session() is get_reports_session()
        assert get_reports_session() is not get_session()
        slugs = get_reports_session().scalars(select(Queue.slug)).all()
        assert slugs == []  # the replica never saw it: reads went there
        assert get_session().scalars(select(Queue.slug)).all() == ["on-primary"]
    for engine in (app.extensions["review.engine"],
                   app.extensions["review.reports_sessionmaker"].kw["bind"]):
        engine.dispose()


def test_report_routes_read_the_replica(tmp_path, two_databases):
    """The API's reports answer from the replica: a queue there with three decided items
    shows them, though the primary has none."""
    from sqlalchemy import create_engine, insert

    from review.core.accounts import create_api_key
    from review.core.clock import utcnow
    from review.core.models import Item
    from review.core.queues import apply_policy, validate_policy

    primary, replica = two_databases
    app = _app(tmp_path, primary, REPORTS_DATABASE_URL=replica)
    with app.app_context():
        session = get_session()
        apply_policy(session, "rq", validate_policy("rq", {}), actor="test")
        _key, raw = create_api_key(session, "ops", "admin")
        session.commit()
        replica_session = get_reports_session()
        apply_policy(replica_session, "rq", validate_policy("rq", {}), actor="test")
        replica_session.commit()
        queue_id = replica_session.scalar(select(Queue.id).where(Queue.slug == "rq"))
    now = utcnow()
    engine = create_engine(replica.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(insert(Item), [dict(
            id=f"rep{n:05d}", queue_id=queue_id, submitter="up", body_hash="0",
            status="approved", route_path="human", route_reasons=[], confidence=0.5,
            output="x", context=[], meta={}, created_at=now, decided_at=now,
            decision_outcome="approve", decided_by="ana", decided_by_kind="reviewer")
            for n in range(3)])
    engine.dispose()
    answer = app.test_client().get("/api/v1/reports/sla?queue=rq",
                                   headers={"Authorization": f"Bearer {raw}"})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["decided"] == 3
    for engine in (app.extensions["review.engine"],
                   app.extensions["review.reports_sessionmaker"].kw["bind"]):
        engine.dispose()
