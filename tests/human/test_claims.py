"""Claims, leases and reviewer decisions at the service level, on SQLite and
PostgreSQL: no item is ever held or decided twice, a lost lease changes
nothing, consensus agrees or escalates."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from review.api.errors import status_of
from review.core.clock import utcnow
from review.core.db import get_session
from review.core.errors import DomainError
from review.core.models import Item, ItemEvent, Queue, QueueMember, Review, User
from review.human.assignment import assign, bulk_reassign, bulk_release
from review.human.claims import (
    claim_next,
    escalate,
    extend_lease,
    release,
    release_expired_leases,
)
from review.human.verdicts import Verdict, decide_as_reviewer, edit_diff
from review.intake.ingest import submit_batch


def add_items(app, slug: str, count: int, **fields) -> list[str]:
    """`count` items routed to humans (low confidence), in submission order."""
    payloads = [{"queue": slug, "output": {"answer": f"a{i}"}, "confidence": 0.1, **fields}
                for i in range(count)]
    with app.app_context():
        results = submit_batch(get_session(), payloads, "upstream")
    assert all(r["status"] == "pending" for r in results), results
    return [r["id"] for r in results]


def fresh(session, model, key):
    return session.execute(select(model).where(model.id == key)
                           .execution_options(populate_existing=True)).scalar_one()


def user_named(session, name: str) -> User:
    return session.scalar(select(User).where(User.name == name))


def queue_named(session, slug: str) -> Queue:
    return session.scalar(select(Queue).where(Queue.slug == slug))


def snapshot(session, item_id: str) -> tuple:
    item = fresh(session, Item, item_id)
    return (item.status, item.version, item.claimed_by, item.lease_token,
            item.lease_expires_at, item.decided_at, item.escalated,
            session.scalar(select(func.count()).select_from(Review)
                           .where(Review.item_id == item_id)),
            session.scalar(select(func.count()).select_from(ItemEvent)
                           .where(ItemEvent.item_id == item_id)))


@pytest.fixture
def team(make_queue, make_user):
    make_queue("support", reject_reasons=["incorrect", "other"])
    for name in ("ana", "ben"):
        make_user(name, queues=("support",))
    make_user("olga")  # a member of no queue
    make_user("sue", "supervisor", queues=("support",))


def test_claim_order_priority_then_due_then_age(app, db, team):
    low = add_items(app, "support", 2, priority=10)
    high = add_items(app, "support", 2, priority=90)
    ana, queue = user_named(db, "ana"), queue_named(db, "support")
    order = []
    for _ in range(4):
        claim = claim_next(db, ana, queue)
        order.append(claim.item.id)
        decide_as_reviewer(db, claim.item.id, ana, claim.lease_token, Verdict("approve"))
    assert order == high + low
    assert claim_next(db, ana, queue) is None


def test_one_item_per_queue_reclaim_returns_the_held_item(app, db, team):
    add_items(app, "support", 3)
    ana, queue = user_named(db, "ana"), queue_named(db, "support")
    first = claim_next(db, ana, queue)
    again = claim_next(db, ana, queue)
    assert again.item.id == first.item.id and again.renewed
    assert again.lease_token == first.lease_token
    assert db.scalar(select(func.count()).where(Item.claimed_by == ana.id)) == 1
    other = claim_next(db, user_named(db, "ben"), queue)
    assert other.item.id != first.item.id


def test_non_member_cannot_claim(app, db, team):
    add_items(app, "support", 1)
    with pytest.raises(DomainError) as exc:
        claim_next(db, user_named(db, "olga"), queue_named(db, "support"))
    assert status_of(exc.value) == 403


@pytest.mark.parametrize("threads,items", [(8, 120)])
def test_no_double_claim_under_threads(app, db, make_user, make_queue, threads, items):
    """8 reviewers claim and decide concurrently until the queue is empty."""
    make_queue("bulk")
    for n in range(threads):
        make_user(f"r{n}", queues=("bulk",))
    ids = add_items(app, "bulk", items)
    claimed: dict[str, list[str]] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def work(name: str) -> None:
        from review.core.db import get_session

        mine = claimed.setdefault(name, [])
        try:
            with app.app_context():
                session = get_session()
                user, queue = user_named(session, name), queue_named(session, "bulk")
                start.wait()
                while (claim := claim_next(session, user, queue)) is not None:
                    mine.append(claim.item.id)
                    decide_as_reviewer(session, claim.item.id, user, claim.lease_token,
                                       Verdict("approve"))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(f"r{n}",)) for n in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(300)
    assert not errors, errors
    every = [i for mine in claimed.values() for i in mine]
    assert sorted(every) == sorted(ids)  # each item claimed exactly once, none left
    assert sum(1 for mine in claimed.values() if mine) > 1  # the work was really shared
    db.expire_all()
    assert db.scalar(select(func.count()).where(Item.queue_id == queue_named(db, "bulk").id,
                                               Item.status == "approved")) == items
    decided = db.execute(select(ItemEvent.item_id, func.count()).where(
        ItemEvent.kind == "decided").group_by(ItemEvent.item_id)).all()
    assert sorted(i for i, _ in decided) == sorted(ids) and {n for _, n in decided} == {1}
    assert db.scalar(select(func.count()).select_from(Review)) == items


def test_concurrent_first_claims_get_distinct_items(app, db, make_user, make_queue):
    make_queue("race")
    for n in range(8):
        make_user(f"c{n}", queues=("race",))
    add_items(app, "race", 5)  # fewer items than reviewers
    got: list[str | None] = []
    start = threading.Barrier(8)

    def grab(name: str) -> None:
        from review.core.db import get_session

        with app.app_context():
            session = get_session()
            user, queue = user_named(session, name), queue_named(session, "race")
            start.wait()
            claim = claim_next(session, user, queue)
            got.append(claim.item.id if claim else None)

    workers = [threading.Thread(target=grab, args=(f"c{n}",)) for n in range(8)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(120)
    won = [g for g in got if g]
    assert len(got) == 8 and len(won) == 5 and len(set(won)) == 5


def test_expired_lease_returns_the_item_and_the_old_holder_cannot_decide(app, db, team):
    add_items(app, "support", 1)
    ana, ben, queue = user_named(db, "ana"), user_named(db, "ben"), queue_named(db, "support")
    t0 = utcnow()
    claim = claim_next(db, ana, queue, now=t0)
    assert claim.lease_expires_at == t0 + timedelta(seconds=900)
    assert release_expired_leases(db, t0 + timedelta(seconds=899)) == []
    assert release_expired_leases(db, t0 + timedelta(seconds=901)) == [claim.item.id]
    item = fresh(db, Item, claim.item.id)
    assert (item.status, item.claimed_by, item.lease_token) == ("pending", None, None)
    before = snapshot(db, item.id)
    with pytest.raises(DomainError) as exc:
        decide_as_reviewer(db, item.id, ana, claim.lease_token, Verdict("approve"))
    assert status_of(exc.value) == 409
    assert snapshot(db, item.id) == before
    again = claim_next(db, ben, queue)
    assert again.item.id == item.id and again.lease_token != claim.lease_token


def test_lease_past_expiry_not_yet_swept_cannot_decide_or_extend(app, db, team):
    add_items(app, "support", 1)
    ana, queue = user_named(db, "ana"), queue_named(db, "support")
    claim = claim_next(db, ana, queue, now=utcnow() - timedelta(seconds=901))
    before = snapshot(db, claim.item.id)
    with pytest.raises(DomainError) as exc:
        decide_as_reviewer(db, claim.item.id, ana, claim.lease_token, Verdict("approve"))
    assert (status_of(exc.value), exc.value.code) == (409, "lease_expired")
    with pytest.raises(DomainError):
        extend_lease(db, ana, claim.item, claim.lease_token)
    assert snapshot(db, claim.item.id) == before


def test_extend_lease_moves_expiry_without_bumping_version(app, db, team):
    add_items(app, "support", 1)
    ana, queue = user_named(db, "ana"), queue_named(db, "support")
    t0 = utcnow()
    claim = claim_next(db, ana, queue, now=t0)
    version = fresh(db, Item, claim.item.id).version
    expires = extend_lease(db, ana, claim.item, claim.lease_token, now=t0 + timedelta(seconds=600))
    item = fresh(db, Item, claim.item.id)
    assert item.lease_expires_at == expires == t0 + timedelta(seconds=1500)
    assert item.version == version
    decide_as_reviewer(db, item.id, ana, claim.lease_token, Verdict("approve"),
                       now=t0 + timedelta(seconds=1200))
    assert fresh(db, Item, item.id).status == "approved"


def test_decision_conflicts_are_409_and_change_nothing(app, db, team):
    add_items(app, "support", 1)
    ana, ben, queue = user_named(db, "ana"), user_named(db, "ben"), queue_named(db, "support")
    claim = claim_next(db, ana, queue)
    item_id = claim.item.id
    before = snapshot(db, item_id)
    for user, token in ((ana, "wrong-token"), (ben, claim.lease_token), (ana, None)):
        with pytest.raises(DomainError) as exc:
            decide_as_reviewer(db, item_id, user, token, Verdict("approve"))
        assert status_of(exc.value) == 409
        assert snapshot(db, item_id) == before
    decide_as_reviewer(db, item_id, ana, claim.lease_token, Verdict("reject", "incorrect", "no"))
    after = snapshot(db, item_id)
    with pytest.raises(DomainError) as exc:
        decide_as_reviewer(db, item_id, ana, claim.lease_token, Verdict("approve"))
    assert (status_of(exc.value), exc.value.code) == (409, "already_decided")
    assert snapshot(db, item_id) == after
    item = fresh(db, Item, item_id)
    assert (item.status, item.decision_reason, item.decided_by, item.decided_by_kind) == \
        ("rejected", "incorrect", "ana", "reviewer")


def test_reject_needs_a_listed_reason_and_edit_needs_output(app, db, team):
    add_items(app, "support", 1)
    ana, queue = user_named(db, "ana"), queue_named(db, "support")
    claim = claim_next(db, ana, queue)
    before = snapshot(db, claim.item.id)
    for verdict in (Verdict("reject"), Verdict("reject", "made up"), Verdict("edit"),
                    Verdict("maybe")):
        with pytest.raises(DomainError) as exc:
            decide_as_reviewer(db, claim.item.id, ana, claim.lease_token, verdict)
        assert status_of(exc.value) == 422
    assert snapshot(db, claim.item.id) == before


def test_edit_keeps_a_diff_in_the_audit_trail(app, db, team):
    add_items(app, "support", 1)
    ana, queue = user_named(db, "ana"), queue_named(db, "support")
    claim = claim_next(db, ana, queue)
    decide_as_reviewer(db, claim.item.id, ana, claim.lease_token,
                       Verdict("edit", output={"answer": "better"}, note="fixed"))
    item = fresh(db, Item, claim.item.id)
    assert (item.status, item.decision_outcome, item.decision_output) == \
        ("approved", "edit", {"answer": "better"})
    event = db.scalar(select(ItemEvent).where(ItemEvent.item_id == item.id,
                                              ItemEvent.kind == "decided"))
    assert event.data["diff"] == edit_diff({"answer": "a0"}, {"answer": "better"})
    assert '-  "answer": "a0"' in event.data["diff"]
    assert '+  "answer": "better"' in event.data["diff"]
    review = db.scalar(select(Review).where(Review.item_id == item.id))
    assert (review.outcome, review.reviewer_id, review.note) == ("edit", ana.id, "fixed")
    assert review.claimed_at is not None


def test_release_and_escalate(app, db, team):
    add_items(app, "support", 2)
    ana, sue, queue = user_named(db, "ana"), user_named(db, "sue"), queue_named(db, "support")
    claim = claim_next(db, ana, queue)
    with pytest.raises(DomainError):
        release(db, user_named(db, "ben"), claim.item, claim.lease_token)
    release(db, ana, claim.item, claim.lease_token)
    assert fresh(db, Item, claim.item.id).status == "pending"
    claim = claim_next(db, ana, queue)
    priority = claim.item.priority
    escalate(db, ana, claim.item, claim.lease_token, note="not sure")
    item = fresh(db, Item, claim.item.id)
    assert (item.status, item.escalated, item.priority) == ("pending", True, priority + 30)
    other = claim_next(db, ana, queue)  # reviewers never get escalated items
    assert other.item.id != item.id
    decide_as_reviewer(db, other.item.id, ana, other.lease_token, Verdict("approve"))
    assert claim_next(db, ana, queue) is None
    mine = claim_next(db, sue, queue)  # the supervisor does
    assert mine.item.id == item.id
    decide_as_reviewer(db, item.id, sue, mine.lease_token, Verdict("approve"))
    assert fresh(db, Item, item.id).decided_by == "sue"


def test_assigned_items_go_only_to_the_assignee(app, db, team):
    first, second = add_items(app, "support", 2)
    ana, ben, sue = (user_named(db, n) for n in ("ana", "ben", "sue"))
    queue = queue_named(db, "support")
    assign(db, sue, fresh(db, Item, first), ben)
    claim = claim_next(db, ana, queue)
    assert claim.item.id == second
    decide_as_reviewer(db, second, ana, claim.lease_token, Verdict("approve"))
    assert claim_next(db, ana, queue) is None
    assert claim_next(db, ben, queue).item.id == first
    with pytest.raises(DomainError) as exc:
        assign(db, sue, fresh(db, Item, first), user_named(db, "olga"))
    assert status_of(exc.value) == 422


def test_reassign_takes_the_item_back_and_bulk_release(app, db, team):
    ids = add_items(app, "support", 3)
    ana, ben, sue = (user_named(db, n) for n in ("ana", "ben", "sue"))
    queue = queue_named(db, "support")
    held = claim_next(db, ana, queue)
    assert bulk_reassign(db, sue, queue, [held.item.id], ben) == [held.item.id]
    item = fresh(db, Item, held.item.id)
    assert (item.status, item.claimed_by, item.assigned_to) == ("pending", None, ben.id)
    with pytest.raises(DomainError):  # ana's lease is gone
        decide_as_reviewer(db, item.id, ana, held.lease_token, Verdict("approve"))
    claims = [claim_next(db, u, queue) for u in (ana, ben)]
    assert claims[1].item.id == held.item.id
    released = bulk_release(db, sue, queue, [c.item.id for c in claims] + ["nonexistent"])
    assert sorted(released) == sorted(c.item.id for c in claims)
    assert {fresh(db, Item, i).status for i in ids} == {"pending"}


def test_member_tags_match_item_tags_or_language(app, db, make_queue, make_user):
    make_queue("intl")
    make_user("germ", queues=("intl",))
    make_user("any", queues=("intl",))
    db.execute(QueueMember.__table__.update().where(
        QueueMember.user_id == user_named(db, "germ").id).values(tags=["de", "legal"]))
    db.commit()
    english = add_items(app, "intl", 1, metadata={"language": "en"}, priority=90)
    legal = add_items(app, "intl", 1, metadata={"tags": ["legal", "x"]}, priority=80)
    german = add_items(app, "intl", 1, metadata={"language": "de"}, priority=70)
    plain = add_items(app, "intl", 1, priority=60)
    germ, queue = user_named(db, "germ"), queue_named(db, "intl")
    seen = []
    while (claim := claim_next(db, germ, queue)) is not None:
        seen.append(claim.item.id)
        decide_as_reviewer(db, claim.item.id, germ, claim.lease_token, Verdict("approve"))
    assert seen == legal + german
    anyone = user_named(db, "any")
    seen = []
    while (claim := claim_next(db, anyone, queue)) is not None:
        seen.append(claim.item.id)
        decide_as_reviewer(db, claim.item.id, anyone, claim.lease_token, Verdict("approve"))
    assert seen == english + plain


def _review(db, user, queue, verdict):
    claim = claim_next(db, user, queue)
    assert claim is not None, f"{user.name} got nothing"
    return claim.item.id, decide_as_reviewer(db, claim.item.id, user, claim.lease_token, verdict)


def test_consensus_agreement_decides(app, db, make_queue, make_user):
    make_queue("pair", required_reviews=2)
    for name in ("ana", "ben"):
        make_user(name, queues=("pair",))
    [item_id] = add_items(app, "pair", 1)
    ana, ben, queue = user_named(db, "ana"), user_named(db, "ben"), queue_named(db, "pair")
    _, first = _review(db, ana, queue, Verdict("approve"))
    assert (first.final, first.reviews, first.required) == (False, 1, 2)
    item = fresh(db, Item, item_id)
    assert (item.status, item.decided_at, item.claimed_by) == ("pending", None, None)
    assert claim_next(db, ana, queue) is None  # never the same reviewer twice
    _, second = _review(db, ben, queue, Verdict("approve"))
    assert second.final
    item = fresh(db, Item, item_id)
    assert (item.status, item.decision_outcome, item.decided_by) == ("approved", "approve", "ben")
    event = db.scalar(select(ItemEvent).where(ItemEvent.item_id == item_id,
                                              ItemEvent.kind == "decided"))
    assert event.data["consensus"] == ["ana", "ben"]
    assert db.scalar(select(func.count()).select_from(Review)
                     .where(Review.item_id == item_id)) == 2


def test_consensus_disagreement_escalates(app, db, make_queue, make_user):
    make_queue("pair", required_reviews=2, reject_reasons=["incorrect"])
    for name in ("ana", "ben", "cy"):
        make_user(name, queues=("pair",))
    make_user("sue", "supervisor", queues=("pair",))
    [item_id] = add_items(app, "pair", 1)
    ana, ben, cy, sue = (user_named(db, n) for n in ("ana", "ben", "cy", "sue"))
    queue = queue_named(db, "pair")
    priority = fresh(db, Item, item_id).priority
    _review(db, ana, queue, Verdict("approve"))
    _, result = _review(db, ben, queue, Verdict("reject", "incorrect"))
    assert (result.final, result.escalated) == (False, True)
    item = fresh(db, Item, item_id)
    assert (item.status, item.escalated, item.priority, item.decided_at) == \
        ("pending", True, priority + 30, None)
    assert claim_next(db, cy, queue) is None  # escalated: supervisors only
    _, final = _review(db, sue, queue, Verdict("reject", "incorrect"))
    assert final.final
    item = fresh(db, Item, item_id)
    assert (item.status, item.decided_by) == ("rejected", "sue")
    kinds = db.scalars(select(ItemEvent.kind).where(ItemEvent.item_id == item_id)
                       .order_by(ItemEvent.id)).all()
    assert kinds.count("decided") == 1 and "escalated" in kinds
