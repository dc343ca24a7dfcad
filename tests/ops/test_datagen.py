"""Bulk commands: `review data generate` (review/ops/datagen.py) and `review items import`."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta

import pytest
from sqlalchemy import delete, func, select

from review.cli import main
from review.core.items import item_to_dict
from review.core.models import Item, ItemEvent, Queue, Review, User
from review.ops.datagen import SUBMITTER, generate

NOW = datetime(2026, 3, 1, 12, 0, 0)


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(main, args=list(args), catch_exceptions=False)


def test_generated_items_are_consistent(app, db):
    summary = generate(db, items=900, days=7, seed=3, now=NOW, chunk=250)
    assert (summary.items, summary.queues, summary.reviewers) == (900, 3, 9)
    db.expire_all()
    items = db.scalars(select(Item)).all()
    assert len(items) == 900 and {i.submitter for i in items} == {SUBMITTER}
    assert all(NOW - timedelta(days=7) <= i.created_at <= NOW for i in items)
    events = {}
    for event in db.scalars(select(ItemEvent).order_by(ItemEvent.id)):
        events.setdefault(event.item_id, []).append(event)
    assert sum(map(len, events.values())) == summary.events
    reviews = {r.item_id: r for r in db.scalars(select(Review))}
    assert len(reviews) == summary.reviews
    routes = Counter(i.route_path for i in items)
    assert all(routes[path] > 50 for path in ("auto", "check", "human")), routes
    for item in items:
        kinds = [e.kind for e in events[item.id]]
        assert kinds[:2] == ["ingested", "routed"]
        times = [e.at for e in events[item.id]]
        assert times == sorted(times), item.id
        if item.decided_at is not None:
            assert item.status in ("approved", "rejected") and kinds[-1] == "decided"
            assert item.decided_at >= item.created_at
            expected_kind = {"auto": "router"}.get(item.route_path)
            if expected_kind:
                assert item.decided_by_kind == expected_kind
        else:
            assert item.status in ("checking", "pending", "in_review")
            assert "decided" not in kinds
        if item.decided_by_kind == "reviewer":
            review = reviews[item.id]
            assert review.outcome == item.decision_outcome
            assert review.claimed_at <= review.created_at == item.decided_at
            assert item.sla_state == ("breached" if item.decided_at > item.due_at else "ok")
            assert (item.decision_reason is not None) == (item.decision_outcome == "reject")
        else:
            assert item.id not in reviews
        if item.route_path == "check" and item.status != "checking":
            assert item.check_verdict in ("pass", "fail", "unsure", "error")
        assert item_to_dict(item)["id"] == item.id  # the API can show every row
    reviewers = db.scalars(select(User).where(User.name.like("%-reviewer-%"))).all()
    assert len(reviewers) == 9


def test_same_seed_same_data(app, db):
    def snapshot():
        generate(db, items=300, days=2, seed=11, now=NOW, chunk=100)
        rows = db.execute(select(Item.id, Item.status, Item.confidence, Item.decided_by)
                          .order_by(Item.id)).all()
        for table in (Review, ItemEvent, Item):
            db.execute(delete(table))
        db.commit()
        return rows

    assert snapshot() == snapshot()


def test_generate_command_with_progress(cli, db, make_key, client):
    result = cli("data", "generate", "--items", "1200", "--days", "3", "--seed", "5")
    assert result.exit_code == 0, result.output
    assert "generating" in result.output  # the progress bar
    assert "generated 1200 items" in result.output
    assert db.scalar(select(func.count()).select_from(Item)) == 1200
    assert {q.slug for q in db.scalars(select(Queue))} >= {"support", "billing", "safety"}
    # The supervisor reports read the generated rows without trouble.
    admin = {"Authorization": f"Bearer {make_key('ops', 'admin')}"}
    dashboard = client.get("/api/v1/reports/dashboard", headers=admin)
    assert dashboard.status_code == 200
    bad = cli("data", "generate", "--items", "10", "--days", "0")
    assert bad.exit_code == 2 and "--days" in bad.output


def _jsonl(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


def test_items_import_through_the_ingest_path(cli, db, tmp_path, make_queue, make_key, client):
    make_queue("support", audit_rate=0.0, blocked_phrases=["fraudulent claim"])
    make_queue("billing", audit_rate=0.0)
    lines = [json.dumps({"queue": "support", "output": f"answer {n}", "confidence": 0.95,
                         "external_id": f"ext-{n}"}) for n in range(1100)]
    lines[10] = json.dumps({"output": "no queue: --queue fills it", "confidence": 0.2,
                            "external_id": "ext-10"})
    lines[20] = "{not json"
    lines[30] = json.dumps({"queue": "support", "output": "x", "confidence": 3})
    lines[40] = json.dumps({"queue": "ghost", "output": "x", "confidence": 0.5})
    lines[50] = json.dumps({"queue": "support", "output": "a fraudulent claim",
                            "confidence": 0.99, "external_id": "ext-50"})
    lines.insert(60, "")  # blank lines are skipped
    path = _jsonl(tmp_path / "items.jsonl", lines)
    result = cli("items", "import", str(path), "--queue", "billing", "--key-name", "bulk")
    assert result.exit_code == 1  # some lines failed; the rest are stored
    assert "importing" in result.output
    assert "1100 lines: 1097 created, 0 replayed, 3 failed" in result.output
    assert "line 21: invalid_json" in result.output
    assert "line 31: validation_failed" in result.output
    assert "line 41: unknown_queue" in result.output
    db.expire_all()
    items = {i.external_id: i for i in db.scalars(select(Item))}
    assert len(items) == 1097 and {i.submitter for i in items.values()} == {"bulk"}
    assert items["ext-10"].queue.slug == "billing" and items["ext-10"].status == "pending"
    assert items["ext-50"].route_path == "human"  # validation still routes
    assert items["ext-0"].status == "approved"
    # The owner's key polls them like API-submitted items.
    owner = {"Authorization": f"Bearer {make_key('bulk')}"}
    assert client.get(f"/api/v1/items/{items['ext-0'].id}", headers=owner).status_code == 200
    # Re-running the file is idempotent for lines with an external_id.
    again = cli("items", "import", str(path), "--queue", "billing", "--key-name", "bulk")
    assert "1100 lines: 0 created, 1097 replayed, 3 failed" in again.output
    assert "line 31: validation_failed" in again.output
    db.rollback()
    assert db.scalar(select(func.count()).select_from(Item)) == 1097


def test_items_import_all_good_exits_zero(cli, tmp_path, make_queue):
    make_queue("support", audit_rate=0.0)
    path = _jsonl(tmp_path / "ok.jsonl", [json.dumps({"queue": "support", "output": "ok",
                                                      "confidence": 0.9})] * 3)
    result = cli("items", "import", str(path))
    assert result.exit_code == 0 and "3 lines: 3 created, 0 replayed, 0 failed" in result.output
