"""Issue 15 item 1: with a checker, confident items are checked before any automatic approval.

Real ingest, a real RQ worker in burst mode, the real database and the built-in grounding
checker: an over-confident hallucination (0.95, a "$500 credit" the context never mentions)
must not be auto-approved.
"""

from __future__ import annotations

from sqlalchemy import select

from review.core.models import Item

CONTEXT = ["Refunds are issued to the original payment method within 5 business days. "
           "Orders ship on Monday from our Berlin warehouse."]
HALLUCINATIONS = [
    "You will also receive a $500 credit on your account.",
    "We are adding a $500 credit to your account today.",
    "As an apology we issued a $500 credit, valid for 12 months.",
    "A $500 credit is on its way to your account.",
    "Your refund includes a $500 credit and free shipping for life.",
]
SUPPORTED = "Refunds are issued to the original payment method within 5 business days."


def submit(client, auth, output: str, confidence: float, context=CONTEXT) -> dict:
    resp = client.post("/api/v1/items", headers=auth, json={
        "queue": "grounded", "output": output, "confidence": confidence, "context": context,
        "input": "Where is my refund?", "model": {"name": "m", "version": "1"}})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def test_confident_hallucinations_are_never_auto_approved(client, auth, db, make_queue,
                                                          rq_worker):
    make_queue("grounded", audit_rate=0.0, auto_approve_at=0.9, checker={"type": "grounding"})
    submitted = [submit(client, auth, text, 0.95) for text in HALLUCINATIONS]
    assert [s["status"] for s in submitted] == ["checking"] * 5
    ids = [s["id"] for s in submitted]
    good = submit(client, auth, SUPPORTED, 0.95)["id"]
    rq_worker()
    db.rollback()
    items = {i.id: i for i in db.scalars(select(Item).where(Item.id.in_([*ids, good])))}
    assert [items[i].status for i in ids] == ["pending"] * 5
    assert all(items[i].check_verdict == "fail" for i in ids)
    assert items[good].status == "approved" and items[good].decided_by_kind == "checker"


def test_scope_ambiguous_keeps_the_old_behaviour(client, auth, db, make_queue):
    make_queue("grounded", audit_rate=0.0, auto_approve_at=0.9,
               checker={"type": "grounding", "scope": "ambiguous"})
    assert submit(client, auth, HALLUCINATIONS[0], 0.95)["status"] == "approved"


def test_grounding_does_not_gate_items_without_context(client, auth, make_queue):
    make_queue("grounded", audit_rate=0.0, auto_approve_at=0.9, checker={"type": "grounding"})
    assert submit(client, auth, "Thanks for waiting.", 0.95, context=[])["status"] == "approved"
    assert submit(client, auth, HALLUCINATIONS[0], 0.95)["status"] == "checking"


def test_check_passes_are_audited_on_fixed_queues_too_and_jump_the_queue(
        client, auth, db, make_queue, rq_worker):
    make_queue("grounded", audit_rate=1.0, auto_approve_at=0.9, checker={"type": "grounding"})
    item_id = submit(client, auth, SUPPORTED, 0.95)["id"]
    rq_worker()
    db.rollback()
    item = db.get(Item, item_id)
    assert item.status == "pending" and item.audit_sampled and item.check_verdict == "pass"
    assert item.priority == 100
