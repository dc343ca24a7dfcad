"""decisions feed: commit-ordered positions (items.feed_position), set by the database

The feed used to page on (decided_at, id) and hold back decisions younger than
FEED_SETTLE_SECONDS. decided_at is an app server's clock read before the commit, so a
decision whose commit came later than that (a row lock wait, SQLite's writer wait, a
batch, a clock running behind) landed behind a client's cursor and was skipped.

Positions come from the database, inside the writing transaction, never from an app
clock:

- PostgreSQL: the writing transaction's id (pg_current_xact_id, 64 bits, never wraps)
  plus review_feed_offset(). The feed lists only positions below
  review_feed_horizon(): the oldest transaction still running in the reader's snapshot,
  leaving out those of the cluster's other databases (pg_stat_activity names their
  database; they never write these rows). Every transaction below it has ended, and
  every decision that commits later has a position at or above it, so behind no
  cursor already handed out.
  review_feed_offset() is 0 until a database is restored into another cluster whose
  transaction ids are lower (review.core.items.align_feed_positions raises it).
- SQLite: one writer at a time, holding the lock until it commits, so the highest
  position plus one, taken inside the write, is in commit order.

Decisions made before this migration keep their order: positions -N..-1 by
(decided_at, id), below every new one.

A later migration that makes SQLite rebuild the items table (batch mode's move and
copy) drops its triggers: recreate them (tests/core/test_feed.py checks they exist).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

BACKFILL = """
UPDATE items SET feed_position = ranked.position
FROM (SELECT id, row_number() OVER (ORDER BY decided_at, id) - count(*) OVER () - 1
             AS position
      FROM items WHERE decided_at IS NOT NULL) AS ranked
WHERE items.id = ranked.id
"""

POSTGRESQL = [
    "CREATE FUNCTION review_feed_offset() RETURNS bigint LANGUAGE sql STABLE"
    " AS $$ SELECT 0::bigint $$",
    # The oldest transaction running in the reader's snapshot (this one included) that
    # may write this database's rows: a transaction of another database of the cluster
    # never does, so it does not hold the feed back. One not found in pg_stat_activity
    # (it ended meanwhile, or has no database) counts, to be safe. pg_stat_activity is
    # read only when some transaction is running below the snapshot's xmax.
    """CREATE FUNCTION review_feed_horizon() RETURNS bigint LANGUAGE plpgsql STABLE AS $$
DECLARE
    snapshot pg_snapshot := pg_current_snapshot();
    horizon bigint := LEAST(pg_snapshot_xmax(snapshot)::text::bigint,
                            pg_current_xact_id_if_assigned()::text::bigint);
BEGIN
    IF pg_snapshot_xmin(snapshot)::text::bigint < horizon THEN
        SELECT LEAST(horizon, min(running::text::bigint)) INTO horizon
        FROM pg_snapshot_xip(snapshot) AS running
        WHERE running::text::bigint % 4294967296 NOT IN (
            SELECT backend_xid::text::bigint FROM pg_stat_activity
            WHERE backend_xid IS NOT NULL AND datid <> (
                SELECT oid FROM pg_database WHERE datname = current_database()));
    END IF;
    RETURN horizon + review_feed_offset();
END $$""",
    """CREATE FUNCTION review_feed_position() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.feed_position := pg_current_xact_id()::text::bigint + review_feed_offset();
    RETURN NEW;
END $$""",
    "CREATE TRIGGER items_feed_position BEFORE INSERT OR UPDATE OF decided_at ON items"
    " FOR EACH ROW WHEN (NEW.decided_at IS NOT NULL AND NEW.feed_position IS NULL)"
    " EXECUTE FUNCTION review_feed_position()",
]
POSTGRESQL_DOWN = [
    "DROP TRIGGER IF EXISTS items_feed_position ON items",
    "DROP FUNCTION IF EXISTS review_feed_position()",
    "DROP FUNCTION IF EXISTS review_feed_horizon()",
    "DROP FUNCTION IF EXISTS review_feed_offset()",
]

SQLITE_NEXT = ("UPDATE items SET feed_position = (SELECT COALESCE(MAX(feed_position), 0) + 1"
               " FROM items WHERE feed_position IS NOT NULL) WHERE id = NEW.id;")
SQLITE = [
    "CREATE TRIGGER items_feed_position_insert AFTER INSERT ON items FOR EACH ROW"
    " WHEN NEW.decided_at IS NOT NULL AND NEW.feed_position IS NULL"
    f" BEGIN {SQLITE_NEXT} END",
    "CREATE TRIGGER items_feed_position_update AFTER UPDATE OF decided_at ON items"
    " FOR EACH ROW WHEN NEW.decided_at IS NOT NULL AND NEW.feed_position IS NULL"
    f" BEGIN {SQLITE_NEXT} END",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS items_feed_position_insert",
    "DROP TRIGGER IF EXISTS items_feed_position_update",
]


def upgrade() -> None:
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('feed_position', sa.BigInteger(), nullable=True))
        batch_op.drop_index('ix_items_feed')
    op.execute(BACKFILL)
    with op.batch_alter_table('items', schema=None) as batch_op:
        for name, columns in (('ix_items_feed', ['submitter', 'feed_position', 'id']),
                              ('ix_items_feed_all', ['feed_position', 'id'])):
            batch_op.create_index(
                name, columns, unique=False,
                postgresql_where=sa.text('feed_position IS NOT NULL'),
                sqlite_where=sa.text('feed_position IS NOT NULL'))
    postgres = op.get_bind().dialect.name == 'postgresql'
    for statement in POSTGRESQL if postgres else SQLITE:
        op.execute(statement)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == 'postgresql'
    for statement in POSTGRESQL_DOWN if postgres else SQLITE_DOWN:
        op.execute(statement)
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.drop_index('ix_items_feed_all')
        batch_op.drop_index('ix_items_feed')
        batch_op.drop_column('feed_position')
        batch_op.create_index(
            'ix_items_feed', ['submitter', 'decided_at', 'id'], unique=False,
            postgresql_where=sa.text('decided_at IS NOT NULL'),
            sqlite_where=sa.text('decided_at IS NOT NULL'))
