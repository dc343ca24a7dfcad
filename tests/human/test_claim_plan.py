"""The claim query reads the partial index ix_items_claimable (PostgreSQL only).

A plan check, not a timing: with many decided rows and a pending backlog, the
query claim_next runs must be an index scan on ix_items_claimable, never a
sequential scan of items (bench/run.py measures the speed).
"""

from __future__ import annotations

import pytest
from sqlalchemy import event, select, text

from review.core.models import Item
from review.human.claims import _claimable, _order
from review.intake.ingest import submit_batch


def test_claim_query_is_an_index_scan_on_ix_items_claimable(app, db, make_queue, make_user):
    if db.bind.dialect.name != "postgresql":
        pytest.skip("EXPLAIN plans are PostgreSQL's; SQLite has no SKIP LOCKED path")
    queue = make_queue("support")
    ana = make_user("ana", queues=("support",))
    submit_batch(db, [{"queue": "support", "output": f"answer {i}", "confidence": 0.1}
                      for i in range(2)], "upstream")
    db.commit()
    template = db.scalar(select(Item.id).where(Item.queue_id == queue.id))
    cols = ", ".join(c.name for c in Item.__table__.columns if c.name not in ("id", "status"))
    # A realistic shape: most rows decided, a backlog pending, both well past
    # the size where a sequential scan would be cheaper.
    for status, n in (("approved", 20_000), ("pending", 5_000)):
        db.execute(text(
            f"INSERT INTO items (id, status, {cols}) SELECT md5(:s || g::text), :s, {cols}"
            f" FROM items, generate_series(1, :n) g WHERE id = :t"),
            {"s": status, "n": n, "t": template})
    db.commit()
    db.execute(text("ANALYZE items"))
    user = db.merge(ana)
    query = (select(Item.id).where(*_claimable(db, Item, user, queue, ()))
             .order_by(*_order(Item)).limit(1).with_for_update(skip_locked=True))
    sql = str(query.compile(dialect=db.bind.dialect, compile_kwargs={"literal_binds": True}))
    plan = "\n".join(db.execute(text("EXPLAIN " + sql)).scalars())
    db.rollback()
    assert "ix_items_claimable" in plan, plan
    assert "Index" in plan and "Seq Scan on items" not in plan, plan


def test_decisions_feed_is_an_index_scan_on_ix_items_feed(app, db, make_queue):
    """One submitter with a big pending backlog and many decisions: the feed page must
    walk ix_items_feed in order, not gather the submitter's rows and sort them."""
    if db.bind.dialect.name != "postgresql":
        pytest.skip("EXPLAIN plans are PostgreSQL's")
    from review.core.items import list_decisions

    queue = make_queue("support", audit_rate=0.0)
    submit_batch(db, [{"queue": "support", "output": "answer", "confidence": c}
                      for c in (0.1, 0.99)], "upstream")
    db.commit()
    cols = ", ".join(c.name for c in Item.__table__.columns
                     if c.name not in ("id", "decided_at"))
    for status, n in (("pending", 30_000), ("approved", 10_000)):
        template = db.scalar(select(Item.id).where(Item.queue_id == queue.id,
                                                   Item.status == status))
        db.execute(text(
            f"INSERT INTO items (id, decided_at, {cols}) SELECT md5(:s || g::text),"
            f" CASE WHEN :s = 'approved' THEN now() - g * interval '1 s' END, {cols}"
            f" FROM items, generate_series(1, :n) g WHERE id = :t"),
            {"s": status, "n": n, "t": template})
    db.commit()
    db.execute(text("ANALYZE items"))
    statements: list[list[str]] = []

    def capture(_conn, _cursor, statement, params, _context, _many):  # noqa: ANN001
        if "ORDER BY items.feed_position" in statement and not statement.startswith("EXPLAIN"):
            statements.append(db.connection().exec_driver_sql(
                "EXPLAIN " + statement, params).scalars().all())

    event.listen(db.bind, "before_cursor_execute", capture)
    try:
        page = list_decisions(db, queue_slug=None, after=None, limit=100, owner="upstream")
    finally:
        event.remove(db.bind, "before_cursor_execute", capture)
    db.rollback()
    assert len(page["items"]) == 100
    plan = "\n".join(statements[0])
    assert "ix_items_feed" in plan and "Sort" not in plan, plan


def test_claim_right_after_a_surge_reads_the_index_without_statistics(tmp_path):
    """100,000 items arrive at once and nothing has analyzed the table yet (autovacuum
    lags exactly then). The plan of the claim claim_next runs must still be the index
    walk, not a sort of every pending row (341 ms against 0.05 ms when measured)."""
    from tests.conftest import PG_URL, _create_pg_database, _drop_pg_database, make_config

    if not PG_URL:
        pytest.skip("EXPLAIN plans are PostgreSQL's; SQLite has no SKIP LOCKED path")
    from review.core.accounts import create_user
    from review.core.db import get_session
    from review.core.migrate import upgrade
    from review.core.models import Queue, QueueMember
    from review.core.queues import apply_policy, validate_policy
    from review.factory import create_app
    from review.human.claims import claim_next

    url, name = _create_pg_database(PG_URL)  # a fresh database: no statistics at all
    app = None
    try:
        upgrade(url)
        app = create_app(make_config(url, "", tmp_path))
        with app.app_context():
            session = get_session()
            session.execute(text("ALTER TABLE items SET (autovacuum_enabled = false)"))
            apply_policy(session, "support", validate_policy("support", {}), actor="test")
            queue = session.scalar(select(Queue).where(Queue.slug == "support"))
            ana = create_user(session, "ana", "correct horse", "reviewer")
            session.add(QueueMember(queue_id=queue.id, user_id=ana.id, tags=[]))
            submit_batch(session, [{"queue": "support", "output": "x", "confidence": 0.1}],
                         "upstream")
            session.commit()
            template = session.scalar(select(Item.id))
            cols = ", ".join(c.name for c in Item.__table__.columns
                             if c.name not in ("id", "created_at"))
            session.execute(text(
                f"INSERT INTO items (id, created_at, {cols}) SELECT md5(g::text),"
                f" now() - g * interval '1 ms', {cols} FROM items,"
                " generate_series(1, 100000) g WHERE id = :t"), {"t": template})
            session.commit()
            assert session.scalar(text(
                "SELECT count(*) FROM pg_stats WHERE tablename = 'items'")) == 0

            plans: list[str] = []

            def explain(conn, _cursor, statement, params, _context, _many):  # noqa: ANN001
                if "FOR UPDATE SKIP LOCKED" in statement:
                    # On the claim's own connection and transaction (its SET LOCAL holds).
                    cursor = conn.connection.dbapi_connection.cursor()
                    cursor.execute("EXPLAIN " + statement, params)
                    plans.append("\n".join(row[0] for row in cursor.fetchall()))
                    cursor.close()

            event.listen(session.bind, "before_cursor_execute", explain)
            try:
                claim = claim_next(session, ana, queue)
            finally:
                event.remove(session.bind, "before_cursor_execute", explain)
        assert claim is not None and len(plans) == 1
        assert "ix_items_claimable" in plans[0], plans[0]
        assert "Sort" not in plans[0], plans[0]
    finally:
        if app is not None:
            app.extensions["review.engine"].dispose()
        _drop_pg_database(PG_URL, name)
