"""Retention: payloads of items decided more than N days ago are purged, the
audit summary stays, and nothing still owed upstream is touched."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from review.cli import main
from review.core.clock import utcnow
from review.core.models import Item, ItemEvent, Review, WebhookDelivery
from tests.conftest import make_config

PAYLOAD = {"input": {"q": "where is my refund?"}, "context": ["Refunds take 5 days."],
           "metadata": {"customer": "c-42"}}


@pytest.fixture
def items(client, make_queue, make_key, make_user, db):
    """Old and new decided items, an old undecided one and an old one whose
    webhook is still pending; returns their ids by name."""
    make_queue("support", audit_rate=0.0)
    make_queue("hooked", audit_rate=0.0, webhook_url="http://127.0.0.1:9/hook")
    rita = make_user("rita", "reviewer", queues=("support",))
    auth = {"Authorization": f"Bearer {make_key('upstream', 'submit')}"}

    def submit(queue: str, confidence: float, output: str) -> str:
        return client.post("/api/v1/items", headers=auth, json={
            "queue": queue, "output": output, "confidence": confidence, **PAYLOAD}
        ).get_json()["id"]

    ids = {"old": submit("support", 0.95, "old answer"),
           "recent": submit("support", 0.95, "recent answer"),
           "old_pending": submit("support", 0.1, "still waiting"),
           "old_hook_pending": submit("hooked", 0.95, "owed upstream"),
           "old_hook_sent": submit("hooked", 0.95, "already sent")}
    long_ago = utcnow() - timedelta(days=40)
    db.execute(update(Item).where(Item.id.in_([ids["old"], ids["old_pending"],
                                               ids["old_hook_pending"], ids["old_hook_sent"]]))
               .values(created_at=long_ago))
    db.execute(update(Item).where(Item.id.in_([ids["old"], ids["old_hook_pending"],
                                               ids["old_hook_sent"]]))
               .values(decided_at=long_ago, decision_note="reviewer's note"))
    db.execute(update(WebhookDelivery).where(WebhookDelivery.item_id == ids["old_hook_sent"])
               .values(status="delivered"))
    db.add(Review(item_id=ids["old"], queue_id=db.get(Item, ids["old"]).queue_id,
                  reviewer_id=rita.id, outcome="edit", output="edited text", note="why"))
    db.commit()
    return ids


def purged_fields(item: Item) -> dict:
    return {"input": item.input, "output": item.output, "context": item.context,
            "decision_output": item.decision_output, "meta": item.meta,
            "decision_note": item.decision_note}


def test_cli_purges_old_payloads_and_keeps_the_audit_summary(app, db, items):
    before = {name: db.get(Item, item_id) for name, item_id in items.items()}
    summary = {name: (i.status, i.decision_outcome, i.decided_by, i.decided_at, i.created_at,
                      i.confidence, i.route_path) for name, i in before.items()}
    events_before = {name: [e.kind for e in db.scalars(
        select(ItemEvent).where(ItemEvent.item_id == i).order_by(ItemEvent.id))]
        for name, i in items.items()}
    db.rollback()

    result = app.test_cli_runner().invoke(main, args=["retention", "run", "--days", "30"])
    assert result.exit_code == 0, result.output
    assert "purged 2 item(s)" in result.output
    db.expire_all()

    for name in ("old", "old_hook_sent"):
        item = db.get(Item, items[name])
        assert purged_fields(item) == {"input": None, "output": None, "context": [],
                                       "decision_output": None, "meta": {},
                                       "decision_note": None}
        assert item.purged_at is not None
        assert (item.status, item.decision_outcome, item.decided_by, item.decided_at,
                item.created_at, item.confidence, item.route_path) == summary[name]
        kinds = [e.kind for e in db.scalars(
            select(ItemEvent).where(ItemEvent.item_id == item.id).order_by(ItemEvent.id))]
        assert kinds == events_before[name] + ["payload_purged"]
    review = db.scalar(select(Review).where(Review.item_id == items["old"]))
    assert (review.outcome, review.output, review.note) == ("edit", None, None)
    sent = db.scalar(select(WebhookDelivery).where(
        WebhookDelivery.item_id == items["old_hook_sent"]))
    assert sent.payload == {"purged": True} and sent.status == "delivered"

    # Untouched: decided recently, not decided yet, webhook still owed upstream.
    for name in ("recent", "old_pending", "old_hook_pending"):
        item = db.get(Item, items[name])
        assert item.purged_at is None
        assert item.input == PAYLOAD["input"] and item.meta == PAYLOAD["metadata"]
    owed = db.scalar(select(WebhookDelivery).where(
        WebhookDelivery.item_id == items["old_hook_pending"]))
    assert owed.payload["item"]["output"] == "owed upstream"

    # Idempotent: a second run finds nothing more.
    again = app.test_cli_runner().invoke(main, args=["retention", "run", "--days", "30"])
    assert "purged 0 item(s)" in again.output


def test_purged_item_still_polls_with_its_decision(client, app, items):
    app.test_cli_runner().invoke(main, args=["retention", "run", "--days", "30"])

    body = client.get(f"/api/v1/items/{items['old']}?history=1",
                      headers=_admin(app)).get_json()
    assert body["output"] is None and body["input"] is None and body["purged_at"]
    assert body["decision"]["outcome"] == "approve"
    assert body["history"][-1]["kind"] == "payload_purged"


def test_retention_off_purges_nothing(app, db, items):
    result = app.test_cli_runner().invoke(main, args=["retention", "run"])  # RETENTION_DAYS=0
    assert "retention is off" in result.output
    assert db.scalar(select(Item).where(Item.purged_at.is_not(None))) is None


def test_periodic_job_purges_with_the_configured_days(app, db, items):
    """The job the worker's ticker enqueues, run by a real RQ worker."""
    from rq import SimpleWorker

    from app import create_app
    from review.core.jobs import DEFAULT, get_redis, rq_queue
    from workers import set_app

    cfg = app.config
    retaining = create_app(make_config(cfg["DATABASE_URL"], cfg["REDIS_URL"],
                                       cfg["INSTANCE_DIR"], RETENTION_DAYS=30))
    set_app(retaining)
    with retaining.app_context():
        job = rq_queue(DEFAULT).enqueue("workers.retention.purge")
        SimpleWorker([rq_queue(DEFAULT)], connection=get_redis()).work(
            burst=True, logging_level="WARNING")
        assert job.return_value() == 2
    set_app(app)
    db.expire_all()
    assert db.get(Item, items["old"]).purged_at is not None
    assert db.get(Item, items["recent"]).purged_at is None


def _admin(app) -> dict[str, str]:
    from review.core.accounts import create_api_key
    from review.core.db import get_session

    with app.app_context():
        session = get_session()
        _key, raw = create_api_key(session, "ops", "admin")
        session.commit()
    return {"Authorization": f"Bearer {raw}"}
