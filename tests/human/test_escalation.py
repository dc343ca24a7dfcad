"""Escalation and lease expiry, on SQLite and PostgreSQL: a supervisor who was one of
an escalated item's reviewers settles it; an expired lease (not yet swept) neither
escalates nor is renewed; an escalated item's priority stays in the range the API
accepts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from review.api.errors import status_of
from review.core.clock import utcnow
from review.core.errors import DomainError
from review.core.models import Item, ItemEvent, Queue, Review
from review.human.claims import MAX_PRIORITY, claim_next, escalate
from review.human.verdicts import Verdict, decide_as_reviewer
from review.intake.schemas import ITEM_IN, validation_errors
from tests.human.test_claims import add_items, fresh, queue_named, snapshot, user_named


@pytest.fixture
def pair(make_queue, make_user):
    """A two-review queue whose only supervisor is sue."""
    make_queue("pair", required_reviews=2, reject_reasons=["incorrect"])
    make_user("ana", queues=("pair",))
    make_user("sue", "supervisor", queues=("pair",))


def _review(db, user, queue, verdict, now=None):
    claim = claim_next(db, user, queue, now=now)
    assert claim is not None, f"{user.name} got nothing"
    return claim, decide_as_reviewer(db, claim.item.id, user, claim.lease_token, verdict,
                                     now=now)


def _count(db, model, item_id: str, **where) -> int:
    query = select(func.count()).select_from(model).where(model.item_id == item_id)
    for column, value in where.items():
        query = query.where(getattr(model, column) == value)
    return db.scalar(query)


# --- 1. A supervisor who reviewed settles the escalated item ------------------------


@pytest.mark.parametrize("final", [Verdict("reject", "incorrect", "ana was right"),
                                   Verdict("approve")], ids=["changes-mind", "keeps-vote"])
def test_supervisor_who_reviewed_settles_the_escalated_item(app, db, pair, final):
    [item_id] = add_items(app, "pair", 1)
    ana, sue, queue = user_named(db, "ana"), user_named(db, "sue"), queue_named(db, "pair")
    _, first = _review(db, sue, queue, Verdict("approve"))
    assert (first.final, first.reviews) == (False, 1)
    _, second = _review(db, ana, queue, Verdict("reject", "incorrect"))
    assert (second.final, second.escalated) == (False, True)
    claim, settled = _review(db, sue, queue, final)  # the queue's only supervisor
    assert claim.item.id == item_id
    assert settled.final
    item = fresh(db, Item, item_id)
    assert (item.status, item.decision_outcome, item.decided_by, item.claimed_by) == (
        "rejected" if final.outcome == "reject" else "approved", final.outcome, "sue", None)
    assert item.decision_reason == final.reason
    assert _count(db, ItemEvent, item_id, kind="decided") == 1
    # One review per person: sue's consensus vote stays as it was, ana's too.
    votes = dict(db.execute(select(Review.reviewer_id, Review.outcome)
                            .where(Review.item_id == item_id)).all())
    assert votes == {sue.id: "approve", ana.id: "reject"}
    assert claim_next(db, sue, queue) is None  # "Next" no longer hands her the same item


def test_supervisor_settles_over_the_api(client, pair, make_key, app, db):
    """The same path through the reviewer API: 200 and decided, not 409 already_reviewed."""
    [item_id] = add_items(app, "pair", 1)
    keys = {name: {"Authorization": "Bearer " + make_key(f"{name}-key", "review",
                                                          user_named(db, name))}
            for name in ("ana", "sue")}

    def claim_and_decide(name: str, verdict: dict) -> dict:
        claimed = client.post("/api/v1/queues/pair/claim", headers=keys[name])
        assert claimed.status_code == 200, claimed.get_json()
        body = claimed.get_json()
        assert body["item"]["id"] == item_id
        decided = client.post(f"/api/v1/items/{item_id}/decision", headers=keys[name],
                              json={**verdict, "lease_token": body["lease"]["token"]})
        assert decided.status_code == 200, decided.get_json()
        return decided.get_json()

    assert claim_and_decide("sue", {"outcome": "approve"})["result"]["final"] is False
    assert claim_and_decide("ana", {"outcome": "reject", "reason": "incorrect"})[
        "result"]["escalated"] is True
    settled = claim_and_decide("sue", {"outcome": "reject", "reason": "incorrect"})
    assert settled["result"]["final"] is True
    assert settled["item"]["status"] == "rejected"
    assert settled["item"]["decision"]["decided_by"] == "sue"
    assert client.post("/api/v1/queues/pair/claim", headers=keys["sue"]).status_code == 204


def test_prior_reviewer_decides_after_consensus_is_turned_off(app, db, pair):
    """Same constraint, other door: required_reviews lowered to 1 while an item
    carries a review; its reviewer may claim it again and their verdict decides it."""
    [item_id] = add_items(app, "pair", 1)
    ana, queue = user_named(db, "ana"), queue_named(db, "pair")
    _review(db, ana, queue, Verdict("approve"))
    db.execute(Queue.__table__.update().where(Queue.id == queue.id).values(required_reviews=1))
    db.commit()
    queue = fresh(db, Queue, queue.id)
    claim, result = _review(db, ana, queue, Verdict("approve"))
    assert claim.item.id == item_id and result.final
    assert fresh(db, Item, item_id).status == "approved"
    assert _count(db, Review, item_id) == 1


# --- 2. An expired lease neither escalates nor is renewed --------------------------


def test_escalate_refuses_an_expired_lease_not_yet_swept(app, db, pair):
    add_items(app, "pair", 1)
    ana, queue = user_named(db, "ana"), queue_named(db, "pair")
    t0 = utcnow()
    claim = claim_next(db, ana, queue, now=t0 - timedelta(seconds=901))
    before = snapshot(db, claim.item.id)
    with pytest.raises(DomainError) as exc:
        escalate(db, ana, fresh(db, Item, claim.item.id), claim.lease_token, "late")
    assert (status_of(exc.value), exc.value.code) == (409, "lease_expired")
    assert snapshot(db, claim.item.id) == before
    # The SQL guard holds on its own too: a lease that runs out between the
    # holder's check and the UPDATE changes nothing.
    item = fresh(db, Item, claim.item.id)
    item.lease_expires_at = t0 + timedelta(seconds=60)  # stale in-memory view, not flushed
    db.expunge(item)
    with pytest.raises(DomainError) as exc:
        escalate(db, ana, item, claim.lease_token, "late")
    assert status_of(exc.value) == 409
    assert snapshot(db, claim.item.id) == before


def test_consensus_disagreement_on_an_expired_lease_does_not_escalate(app, db, pair):
    [item_id] = add_items(app, "pair", 1)
    ana, sue, queue = user_named(db, "ana"), user_named(db, "sue"), queue_named(db, "pair")
    t0 = utcnow()
    _review(db, sue, queue, Verdict("approve"), now=t0)
    claim = claim_next(db, ana, queue, now=t0)
    before = snapshot(db, item_id)
    with pytest.raises(DomainError) as exc:
        decide_as_reviewer(db, item_id, ana, claim.lease_token, Verdict("reject", "incorrect"),
                           now=t0 + timedelta(seconds=901))
    assert (status_of(exc.value), exc.value.code) == (409, "lease_expired")
    assert snapshot(db, item_id) == before


def test_claim_next_does_not_renew_an_expired_lease(app, db, pair):
    [item_id] = add_items(app, "pair", 1)
    ana, queue = user_named(db, "ana"), queue_named(db, "pair")
    t0 = utcnow()
    first = claim_next(db, ana, queue, now=t0)
    live = claim_next(db, ana, queue, now=t0 + timedelta(seconds=899))
    assert live.renewed and live.lease_token == first.lease_token  # a live lease renews
    expired_at = live.lease_expires_at
    again = claim_next(db, ana, queue, now=expired_at + timedelta(seconds=1))
    # Not renewed: the expired lease went back to the queue and this is a new claim.
    assert again is not None and not again.renewed
    assert again.item.id == item_id and again.lease_token != first.lease_token
    kinds = db.scalars(select(ItemEvent.kind).where(ItemEvent.item_id == item_id)
                       .order_by(ItemEvent.id)).all()
    assert kinds[-2:] == ["lease_expired", "claimed"]
    with pytest.raises(DomainError) as exc:  # the old token is dead for good
        decide_as_reviewer(db, item_id, ana, first.lease_token, Verdict("approve"),
                           now=expired_at + timedelta(seconds=2))
    assert status_of(exc.value) == 409
    decide_as_reviewer(db, item_id, ana, again.lease_token, Verdict("approve"),
                       now=expired_at + timedelta(seconds=2))
    assert fresh(db, Item, item_id).status == "pending"  # review 1 of 2 recorded


def test_an_expired_lease_gives_way_to_higher_priority_work(app, db, make_queue, make_user):
    """After expiry the reviewer claims like anyone else: the best item, not the old one."""
    make_queue("solo")
    make_user("ana", queues=("solo",))
    [low] = add_items(app, "solo", 1, priority=10)
    ana, queue = user_named(db, "ana"), queue_named(db, "solo")
    t0 = utcnow()
    assert claim_next(db, ana, queue, now=t0).item.id == low
    [high] = add_items(app, "solo", 1, priority=90)
    later = t0 + timedelta(seconds=901)
    assert claim_next(db, ana, queue, now=later).item.id == high
    item = fresh(db, Item, low)
    assert (item.status, item.claimed_by, item.lease_token) == ("pending", None, None)
    assert db.scalar(select(func.count()).where(Item.claimed_by == ana.id)) == 1


# --- 3. One priority range ---------------------------------------------------------


def test_the_api_range_is_the_one_range():
    priority = ITEM_IN["properties"]["priority"]
    assert (priority["minimum"], priority["maximum"]) == (0, MAX_PRIORITY)


@pytest.mark.parametrize("start,expected", [(0, 30), (50, 80), (70, 100), (85, 100),
                                            (100, 100)])
def test_escalation_priority_stays_in_the_api_range(app, db, make_queue, make_user,
                                                    start, expected):
    make_queue("solo")
    make_user("ana", queues=("solo",))
    [item_id] = add_items(app, "solo", 1, priority=start)
    ana, queue = user_named(db, "ana"), queue_named(db, "solo")
    claim = claim_next(db, ana, queue)
    escalate(db, ana, claim.item, claim.lease_token)
    item = fresh(db, Item, item_id)
    assert (item.escalated, item.priority) == (True, expected)
    # What the item carries, the API would accept.
    assert validation_errors(ITEM_IN, {"queue": "solo", "output": "x", "confidence": 0.5,
                                       "priority": item.priority}) == []


def test_consensus_escalation_priority_stays_in_the_api_range(app, db, pair, client, auth):
    [item_id] = add_items(app, "pair", 1, priority=95)
    ana, sue, queue = user_named(db, "ana"), user_named(db, "sue"), queue_named(db, "pair")
    _review(db, ana, queue, Verdict("approve"))
    _, result = _review(db, sue, queue, Verdict("reject", "incorrect"))
    assert result.escalated
    assert fresh(db, Item, item_id).priority == MAX_PRIORITY
    shown = client.get(f"/api/v1/items/{item_id}", headers=auth).get_json()
    assert shown["priority"] == MAX_PRIORITY
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["components"]["schemas"]["ItemIn"]["properties"]["priority"]["maximum"] \
        == MAX_PRIORITY
