"""A restore keeps the decisions feed whole: a client's cursor from before the backup
continues on the restored database and sees each new decision once, also when the dump
is restored into another PostgreSQL cluster whose transaction ids are lower than the
stored positions (restore realigns them: review.core.items.align_feed_positions)."""

from __future__ import annotations

from sqlalchemy import create_engine, update

from review.cli import main
from review.core.items import decode_cursor, encode_cursor
from review.core.migrate import upgrade
from review.core.models import Item
from tests.core.feedkit import Follower
from tests.ops.test_backup import build_app, fresh_database, seed  # noqa: F401 - a fixture

# The source cluster's transaction ids, as far above the target's as a busy server's are.
OLDER_CLUSTER = 10**12


def test_a_cursor_from_before_the_backup_continues_after_a_restore(
        fresh_database, redis_url, tmp_path):  # noqa: F811 - the imported fixture
    source_url = fresh_database("source")
    upgrade(source_url)
    source = build_app(source_url, redis_url, tmp_path)
    raw, _ids = seed(source)  # 30 items, 10 of them auto-approved
    auth = {"Authorization": f"Bearer {raw}"}
    follower = Follower(source.test_client(), auth)
    decided = follower.drain()
    assert len(decided) == 10
    postgres = source.extensions["review.engine"].dialect.name == "postgresql"
    if postgres:
        # The dump comes from a cluster that has run 10**12 more transactions than the
        # target: its positions, and the client's cursor, are that much higher.
        engine = create_engine(source_url)
        with engine.begin() as conn:
            conn.execute(update(Item).where(Item.feed_position.is_not(None))
                         .values(feed_position=Item.feed_position + OLDER_CLUSTER))
        engine.dispose()
        position, item_id = decode_cursor(follower.cursor)
        follower.cursor = encode_cursor(position + OLDER_CLUSTER, item_id)
    backup_file = tmp_path / "backups" / "feed.dump"
    result = source.test_cli_runner().invoke(main, args=["db", "backup", str(backup_file)])
    assert result.exit_code == 0, result.output

    target_url = fresh_database("target")
    target = build_app(target_url, redis_url, tmp_path)
    result = target.test_cli_runner().invoke(
        main, args=["db", "restore", str(backup_file), "--yes"])
    assert result.exit_code == 0, result.output
    client = target.test_client()
    follower.client = client
    assert Follower(client, auth).drain() == decided  # the restored decisions are listed
    assert follower.drain() == []  # and the cursor is where the client left it
    resp = client.post("/api/v1/items", headers=auth,
                       json={"queue": "support", "output": "after", "confidence": 0.95})
    assert resp.status_code == 201
    assert follower.drain() == [resp.get_json()["id"]]
    for app in (source, target):
        app.extensions["review.engine"].dispose()
