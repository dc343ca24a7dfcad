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
