"""The decisions feed lists every decision exactly once to a client following the cursor,
whatever the commit delay or the deciding app server's clock (docs/reliability.md).

Positions come from the database inside the deciding transaction (migration 0007): on
SQLite the highest plus one under the one writer's lock, on PostgreSQL the writer's
transaction id, listed once every older transaction has ended. The paths differ, so
each test runs on both (TEST_DATABASE_URL selects PostgreSQL).
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import MetaData, Table, create_engine, event, func, select, text, update
from sqlalchemy.orm import Session

from review.core.items import align_feed_positions, encode_cursor, list_decisions
from review.core.migrate import upgrade
from review.core.models import Item, Queue
from review.core.settings import settings
from review.human import decisions
from tests.core.feedkit import (
    Follower,
    decide,
    decide_committed,
    in_app,
    insert_auto_approved,
    is_postgres,
    pending_items,
    raw_cursor,
    skewed_utcnow,
)

# The figure: a transaction held open this long while others commit and a
# client reads pages. SQLite's writers wait up to 30 s (busy_timeout), so the waiting
# deciders below start a few seconds into the hold.
HOLD_SECONDS = 30.0
WAITERS_START = 3.0


@pytest.fixture(autouse=True)
def support_queue(make_queue, monkeypatch):
    make_queue("support", audit_rate=0.0)
    monkeypatch.setattr(decisions, "utcnow", skewed_utcnow)


def test_a_transaction_held_30s_loses_no_decision(app, client, auth):
    """A holds a lock for 30 s (PostgreSQL: FOR UPDATE on item x; SQLite: the writer lock).
    x's decision is stamped at 3 s and waits for it; y is auto-approved at 4 s (commits at
    once on PostgreSQL, waits on SQLite); the client reads pages all along. At 30 s A
    decides z (stamped last) and commits, and the client reads again at once, before x
    can commit. Paging on decided_at listed y (or z) first and skipped x for good."""
    x, z = pending_items(app, 2)
    follower = Follower(client, auth)
    errors: list[BaseException] = []

    def run(fn) -> threading.Thread:  # noqa: ANN001
        def guarded() -> None:
            try:
                fn()
            except BaseException as exc:  # reported by the assertion below
                errors.append(exc)

        thread = threading.Thread(target=guarded)
        thread.start()
        return thread

    def post_y() -> None:
        resp = app.test_client().post("/api/v1/items", headers=auth, json={
            "queue": "support", "output": "y", "confidence": 0.99, "external_id": "y"})
        assert resp.status_code == 201, resp.get_data(as_text=True)

    holder: Session = app.extensions["review.sessionmaker"]()
    try:
        if is_postgres(app):
            holder.execute(select(Item.id).where(Item.id == x).with_for_update())
        else:
            holder.execute(update(Item).where(Item.id == z).values(priority=Item.priority))
        start = time.monotonic()
        time.sleep(WAITERS_START)
        deciding_x = run(lambda: decide_committed(app, x))
        time.sleep(1.0)
        posting_y = run(post_y)
        during: list[str] = []
        while time.monotonic() - start < HOLD_SECONDS:
            during += follower.page(limit=1)
            time.sleep(0.25)
        decide(holder, z)
        holder.commit()
        right_after = follower.page(limit=1)
        deciding_x.join(60)
        posting_y.join(60)
    finally:
        holder.close()
    assert not errors, errors
    follower.drain(limit=1)
    y = in_app(app, lambda s: s.scalar(select(Item.id).where(Item.external_id == "y")))
    assert sorted(follower.seen) == sorted([x, y, z]), (follower.seen, right_after)
    assert len(follower.seen) == 3
    # While A is open nothing newer is listed on PostgreSQL (y committed at 4 s is held
    # back: its transaction is younger than A's), and on SQLite nothing else committed.
    assert during == []


@pytest.mark.parametrize("skew", [timedelta(hours=-1), timedelta(hours=1),
                                  timedelta(days=-3650), timedelta(seconds=-6)],
                         ids=["1h-behind", "1h-ahead", "10y-behind", "6s-behind"])
def test_a_decision_stamped_by_a_skewed_clock_is_listed_once(app, client, auth, skew):
    """Two app servers, one with a clock `skew` off. Each decision is read as soon as it
    commits. Behind: its stamp falls before the cursor (it was skipped). Ahead: the cursor
    jumped to its stamp (decisions after it were held back until the clock caught up)."""
    a, b, c = pending_items(app, 3)
    follower = Follower(client, auth)
    decide_committed(app, a)
    assert follower.drain() == [a]
    decide_committed(app, b, skew)
    assert follower.drain() == [b]
    decide_committed(app, c)
    assert follower.drain() == [c]
    in_app(app, lambda s: (insert_auto_approved(s, "skewed-insert", skew), s.commit()))
    assert follower.drain() == ["skewed-insert"]
    assert follower.seen == [a, b, c, "skewed-insert"]


def test_positions_are_set_by_the_database_on_both_write_paths(app):
    """INSERT (auto-approved at ingest) and UPDATE (decided later) both get a position,
    in commit order; undecided items none. A migration that rebuilds the items table on
    SQLite drops its triggers: this fails then."""
    pending, decided = pending_items(app, 2)

    def run(session: Session) -> None:
        insert_auto_approved(session, "auto-1")
        session.commit()
        decide(session, decided)
        session.commit()
        rows = dict(session.execute(select(Item.id, Item.feed_position)).all())
        assert rows[pending] is None
        assert rows["auto-1"] is not None and rows[decided] is not None
        assert rows["auto-1"] < rows[decided]
        if session.get_bind().dialect.name == "postgresql":
            names = set(session.scalars(text(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = 'items'::regclass")))
            assert "items_feed_position" in names
        else:
            names = set(session.scalars(text(
                "SELECT name FROM sqlite_master WHERE type = 'trigger'")))
            assert {"items_feed_position_insert", "items_feed_position_update"} <= names

    in_app(app, run)


def test_one_transactions_decisions_appear_together_in_pages_of_one(app, client, auth):
    """A batch shares one position on PostgreSQL (its transaction id): ties are paged by
    id, so pages of one still list each once."""
    ids = pending_items(app, 5)

    def run(session: Session) -> None:
        for item_id in ids:
            decide(session, item_id)
        session.commit()

    in_app(app, run)
    follower = Follower(client, auth)
    assert sorted(follower.drain(limit=1)) == sorted(ids)
    assert len(follower.seen) == 5


def test_after_a_restore_into_another_cluster_new_decisions_follow_the_cursor(app, client,
                                                                             auth):
    """pg_restore into a fresh cluster keeps the stored positions (the old cluster's
    transaction ids) while the new one numbers its transactions from low again: the
    restored decisions sit above the horizon (unlisted) and new ones would sort behind
    every client's cursor. align_feed_positions raises the offset so both work."""
    if not is_postgres(app):
        pytest.skip("SQLite positions carry on from the highest stored one")
    url = settings(app).DATABASE_URL
    a, b = pending_items(app, 2)
    decide_committed(app, a)
    # What a restore into a younger cluster looks like from the database's side.
    in_app(app, lambda s: (s.execute(update(Item).where(Item.feed_position.is_not(None))
                                     .values(feed_position=Item.feed_position + 10**12)),
                           s.commit()))
    follower = Follower(client, auth)
    assert follower.drain() == []
    engine = create_engine(url)
    try:
        offset = align_feed_positions(url)
        assert offset > 0
        assert align_feed_positions(url) == offset  # idempotent
        assert follower.drain() == [a]
        decide_committed(app, b)
        assert follower.drain() == [b]
    finally:
        with engine.begin() as conn:
            conn.execute(text("CREATE OR REPLACE FUNCTION review_feed_offset() RETURNS bigint"
                              " LANGUAGE sql STABLE AS $$ SELECT 0::bigint $$"))
        engine.dispose()


def test_align_is_a_no_op_when_positions_are_below_the_servers_ids(app):
    assert align_feed_positions(settings(app).DATABASE_URL) == 0


def _insert_as_of(session: Session, model: type, rows: list[dict]) -> None:
    """Insert rows into the table as an older migration left it: only the columns it
    has, with the model's Python-side defaults for those the rows leave out (the model
    itself names columns added since)."""
    table = Table(model.__tablename__, MetaData(), autoload_with=session.connection())
    filled = []
    for row in rows:
        values = dict(row)
        for column in table.columns:
            default = getattr(model.__table__.columns.get(column.name), "default", None)
            if column.name not in values and default is not None:
                values[column.name] = default.arg(None) if callable(default.arg) \
                    else default.arg
        filled.append(values)
    session.execute(table.insert(), filled)


def test_upgrade_numbers_old_decisions_in_their_old_order_and_old_cursors_work(tmp_path):
    """Decisions made before migration 0007 get positions -N..-1 in (decided_at, id)
    order, below every new one, so an old cursor (which names its item) continues where
    it stopped, and new decisions follow."""
    from review.core.clock import utcnow
    from tests.conftest import PG_URL, _create_pg_database, _drop_pg_database

    url, name = (_create_pg_database(PG_URL) if PG_URL
                 else (f"sqlite:///{tmp_path / 'feed.db'}", None))
    engine = create_engine(url)
    try:
        upgrade(url, "0006")
        now = utcnow()
        stamps = {"i-c": now - timedelta(minutes=3), "i-a": now - timedelta(minutes=2),
                  "i-b": now - timedelta(minutes=2), "i-d": now - timedelta(minutes=1)}
        with Session(engine) as session:
            _insert_as_of(session, Queue, [dict(slug="support", name="support")])
            queue_id = session.scalar(select(Queue.id))
            rows = [dict(id=item_id, queue_id=queue_id, submitter="upstream", body_hash="0",
                         status="approved", route_path="auto", route_reasons=[],
                         confidence=0.99, output="ok", context=[], meta={},
                         created_at=stamp, decided_at=stamp, decided_by="router",
                         decided_by_kind="router", decision_outcome="approve")
                    for item_id, stamp in stamps.items()]
            rows.append({**rows[0], "id": "i-pending", "status": "pending",
                         "decided_at": None})
            _insert_as_of(session, Item, rows)
            session.commit()
        old_cursor = raw_cursor(f"{stamps['i-a'].isoformat()}|i-a")
        upgrade(url)
        with Session(engine) as session:
            positions = dict(session.execute(select(Item.id, Item.feed_position)).all())
            assert positions == {"i-c": -4, "i-a": -3, "i-b": -2, "i-d": -1,
                                 "i-pending": None}
            session.execute(update(Item).where(Item.id == "i-pending").values(
                status="approved", decided_at=now - timedelta(days=1)))
            session.commit()
            assert session.scalar(select(Item.feed_position).where(
                Item.id == "i-pending")) > -1
            page = list_decisions(session, queue_slug=None, after=old_cursor, limit=10,
                                  owner="upstream")
            assert [i["id"] for i in page["items"]] == ["i-b", "i-d", "i-pending"]
    finally:
        engine.dispose()
        if name:
            _drop_pg_database(PG_URL, name)


def _feed_plan(app, db, after: str | None, owner: str | None) -> str:
    """The plan of the statement list_decisions runs (EXPLAIN / EXPLAIN QUERY PLAN)."""
    plans: list[str] = []
    postgres = is_postgres(app)

    def capture(_conn, _cursor, statement, params, _context, _many):  # noqa: ANN001
        if "ORDER BY items.feed_position" in statement and "EXPLAIN" not in statement:
            explain = "EXPLAIN " if postgres else "EXPLAIN QUERY PLAN "
            rows = db.connection().exec_driver_sql(explain + statement, params).all()
            plans.append("\n".join(str(r[-1]) for r in rows))

    event.listen(db.bind, "before_cursor_execute", capture)
    try:
        list_decisions(db, queue_slug=None, after=after, limit=100, owner=owner)
    finally:
        event.remove(db.bind, "before_cursor_execute", capture)
    db.rollback()
    return plans[0]


def test_a_page_after_a_cursor_is_an_index_range_scan(app, db):
    """Many decisions of one submitter among many pending items: a page after a cursor
    walks ix_items_feed from the cursor (no sort), and the admin feed ix_items_feed_all.
    SQLite's trigger reads the highest position from ix_items_feed_all, not by a scan."""
    ids = pending_items(app, 2)
    decide_committed(app, ids[0])
    template = ids[1]
    cols = ", ".join(c.name for c in Item.__table__.columns
                     if c.name not in ("id", "decided_at", "feed_position", "status"))
    n_pending, n_decided = (20_000, 10_000) if is_postgres(app) else (2_000, 1_000)
    series = ("generate_series(1, :n) g" if is_postgres(app) else
              "(WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < :n)"
              " SELECT g FROM s)")
    for status, n in (("pending", n_pending), ("approved", n_decided)):
        decided = "CURRENT_TIMESTAMP" if status == "approved" else "NULL"
        db.execute(text(
            f"INSERT INTO items (id, status, decided_at, {cols}) SELECT :s || g, :s,"
            f" {decided}, {cols} FROM items, {series} WHERE id = :t"),
            {"s": status, "n": n, "t": template})
        db.commit()
    db.execute(text("ANALYZE items" if is_postgres(app) else "ANALYZE"))
    db.commit()
    position = db.scalar(select(func.max(Item.feed_position)))
    cursor = encode_cursor(position - 500 if not is_postgres(app) else position - 1, "m")
    owner_plan = _feed_plan(app, db, cursor, "upstream")
    admin_plan = _feed_plan(app, db, cursor, None)
    assert "ix_items_feed" in owner_plan, owner_plan
    assert "ix_items_feed_all" in admin_plan, admin_plan
    for plan in (owner_plan, admin_plan):
        assert "Sort" not in plan and "TEMP B-TREE" not in plan, plan
        assert "Seq Scan on items" not in plan and "SCAN items" not in plan, plan
    if not is_postgres(app):
        rows = db.connection().exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT COALESCE(MAX(feed_position), 0) + 1 FROM items"
            " WHERE feed_position IS NOT NULL").all()
        assert "ix_items_feed_all" in str(rows), rows


def test_an_open_transaction_of_another_database_does_not_hold_the_feed_back(app, client,
                                                                             auth):
    """The cluster's snapshot counts every database's transactions; the horizon leaves
    out those of other databases (they never write these rows). One of this database
    holds it back until it ends, and then the decision is listed, once."""
    if not is_postgres(app):
        pytest.skip("SQLite has no other databases")
    from tests.conftest import PG_URL, _create_pg_database, _drop_pg_database

    a, b = pending_items(app, 2)
    follower = Follower(client, auth)
    other_url, other_name = _create_pg_database(PG_URL)
    other = create_engine(other_url)
    ours = app.extensions["review.engine"]
    try:
        with other.connect() as elsewhere:
            elsewhere.execute(text("SELECT pg_current_xact_id()"))  # an open write transaction
            decide_committed(app, a)
            assert follower.drain() == [a]
            with ours.connect() as here:
                here.execute(text("SELECT pg_current_xact_id()"))
                decide_committed(app, b)
                assert follower.drain() == []
                here.rollback()
            assert follower.drain() == [b]
            elsewhere.rollback()
    finally:
        other.dispose()
        _drop_pg_database(PG_URL, other_name)
