"""Concurrency properties, with real threads on the real database.

Hypothesis draws what each of several reviewers does (claim, decide, decide
with a stale lease, release, extend), what a supervisor does (reassign,
bulk release) and when the clock expires every lease; the threads then run
those scripts at once. Whatever the interleaving:

- no item is decided twice (one `decided` event, one final verdict reported
  to one reviewer, the decision names that reviewer);
- nothing is stuck: once the scripts end, leases expire and the reviewers
  keep claiming, every item gets decided;
- the audit trail agrees with the item (decided ⇔ a `decided` event).

Plus: concurrent identical ingests (single and batch, racing each other)
create one item per external_id.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from review.api.errors import status_of
from review.core.clock import utcnow
from review.core.errors import DomainError
from review.core.models import Item, ItemEvent, Queue, Review, User

REVIEWERS = ("ann", "ben", "cat")
SUPERVISOR = "sue"
ITEMS = 6
_slugs = itertools.count()

reviewer_step = st.sampled_from(["claim", "claim", "approve", "reject", "edit", "stale",
                                 "release", "extend"])
supervisor_step = st.sampled_from(["reassign", "unassign", "bulk_release", "expire"])


@pytest.fixture
def people(make_user):
    for name in REVIEWERS:
        make_user(name, "reviewer")
    make_user(SUPERVISOR, "supervisor")


def new_queue(app, required_reviews: int) -> tuple[str, list[str]]:
    """A fresh queue with every person a member and ITEMS pending items."""
    from review.core.db import get_session
    from review.core.models import QueueMember
    from review.core.queues import apply_policy, validate_policy
    from review.intake.ingest import submit_batch

    slug = f"q{next(_slugs)}"
    with app.app_context():
        session = get_session()
        apply_policy(session, slug, validate_policy(slug, {
            "audit_rate": 0.0, "required_reviews": required_reviews,
            "reject_reasons": ["wrong"]}), actor="test")
        session.commit()
        queue = session.scalar(select(Queue).where(Queue.slug == slug))
        for user in session.scalars(select(User)):
            session.add(QueueMember(queue_id=queue.id, user_id=user.id, tags=[]))
        session.commit()
        results = submit_batch(get_session(), [
            {"queue": slug, "output": f"answer {i}", "confidence": 0.1} for i in range(ITEMS)],
            "upstream")
    return slug, [r["id"] for r in results]


class Actor:
    """One person's thread: runs a script of steps, each in its own app context."""

    def __init__(self, app, name: str, slug: str, item_ids: list[str]) -> None:
        self.app, self.name, self.slug, self.item_ids = app, name, slug, item_ids
        self.held: tuple[str, str] | None = None  # (item id, lease token)
        self.old_tokens: list[tuple[str, str]] = []
        self.final: list[str] = []  # items this actor's verdict decided
        self.errors: list[BaseException] = []

    def run(self, script: list[str], start: threading.Barrier) -> None:
        start.wait()
        for i, step in enumerate(script):
            try:
                with self.app.app_context():
                    getattr(self, f"do_{step}")(i)
            except DomainError as exc:
                if status_of(exc) != 409:  # losing a race is a 409; anything else is a bug
                    self.errors.append(exc)
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                self.errors.append(exc)

    # -- helpers
    def session(self):
        from review.core.db import get_session

        return get_session()

    def me(self) -> User:
        return self.session().scalar(select(User).where(User.name == self.name))

    def queue(self) -> Queue:
        return self.session().scalar(select(Queue).where(Queue.slug == self.slug))

    def item(self, item_id: str) -> Item:
        return self.session().get(Item, item_id)

    # -- reviewer steps
    def do_claim(self, _i: int) -> None:
        from review.human.claims import claim_next

        claim = claim_next(self.session(), self.me(), self.queue())
        if claim is not None:
            if self.held and self.held[0] != claim.item.id:
                self.old_tokens.append(self.held)
            self.held = (claim.item.id, claim.lease_token)

    def _decide(self, outcome: str, held: tuple[str, str] | None) -> None:
        from review.human.verdicts import Verdict, decide_as_reviewer

        if held is None:
            return
        verdict = Verdict(outcome, reason="wrong" if outcome == "reject" else None,
                          output={"edited": self.name} if outcome == "edit" else None)
        try:
            result = decide_as_reviewer(self.session(), held[0], self.me(), held[1], verdict)
        finally:
            if held == self.held:
                self.held = None
                self.old_tokens.append(held)
        if result.final:
            self.final.append(held[0])

    def do_approve(self, _i: int) -> None:
        self._decide("approve", self.held)

    def do_reject(self, _i: int) -> None:
        self._decide("reject", self.held)

    def do_edit(self, _i: int) -> None:
        self._decide("edit", self.held)

    def do_stale(self, _i: int) -> None:
        """A decision sent with a lease token this reviewer no longer holds."""
        if self.old_tokens:
            self._decide("approve", self.old_tokens[-1])

    def do_release(self, _i: int) -> None:
        from review.human.claims import release

        if self.held:
            held, self.held = self.held, None
            self.old_tokens.append(held)
            release(self.session(), self.me(), self.item(held[0]), held[1])

    def do_extend(self, _i: int) -> None:
        from review.human.claims import extend_lease

        if self.held:
            extend_lease(self.session(), self.me(), self.item(self.held[0]), self.held[1])

    # -- supervisor steps
    def do_reassign(self, i: int) -> None:
        from review.human.assignment import assign

        target = self.session().scalar(select(User).where(
            User.name == REVIEWERS[i % len(REVIEWERS)]))
        assign(self.session(), self.me(), self.item(self.item_ids[i % ITEMS]), target)

    def do_unassign(self, i: int) -> None:
        from review.human.assignment import assign

        assign(self.session(), self.me(), self.item(self.item_ids[i % ITEMS]), None)

    def do_bulk_release(self, _i: int) -> None:
        from review.human.assignment import bulk_release

        bulk_release(self.session(), self.me(), self.queue(), self.item_ids)

    def do_expire(self, _i: int) -> None:
        """The SLA clock, run as if every lease had run out."""
        from review.ops.sla_clock import tick

        tick(self.session(), utcnow() + timedelta(days=1))


def settle(app, slug: str, item_ids: list[str]) -> list[str]:
    """Expire what is still held, then let everyone claim and decide until no one
    can; returns the items this decided. Bounded: each round must make progress."""
    from review.core.db import get_session
    from review.ops.sla_clock import tick

    decided: list[str] = []
    for _round in range(ITEMS * (len(REVIEWERS) + 2)):
        with app.app_context():
            tick(get_session(), utcnow() + timedelta(days=1))
        progress = False
        for name in (*REVIEWERS, SUPERVISOR):
            actor = Actor(app, name, slug, item_ids)
            while True:
                with app.app_context():
                    actor.do_claim(0)
                    if actor.held is None:
                        break
                    actor.do_approve(0)
                progress = True
            decided += actor.final
        if not progress:
            break
    return decided


@settings(max_examples=15, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(scripts=st.lists(st.lists(reviewer_step, max_size=14), min_size=len(REVIEWERS),
                        max_size=len(REVIEWERS)),
       supervisor=st.lists(supervisor_step, max_size=6),
       required_reviews=st.sampled_from([1, 2]))
def _interleavings(app, scripts, supervisor, required_reviews) -> None:
    slug, item_ids = new_queue(app, required_reviews)
    actors = [Actor(app, name, slug, item_ids) for name in REVIEWERS]
    boss = Actor(app, SUPERVISOR, slug, item_ids)
    start = threading.Barrier(len(actors) + 1)
    threads = [threading.Thread(target=a.run, args=(s, start)) for a, s in zip(
        actors, scripts, strict=True)]
    threads.append(threading.Thread(target=boss.run, args=(supervisor, start)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for actor in (*actors, boss):
        assert not actor.errors, (actor.name, actor.errors)

    during = Counter(i for a in actors for i in a.final)
    assert all(n == 1 for n in during.values()), f"decided twice: {during}"
    after = settle(app, slug, item_ids)
    finals = Counter(list(during.elements()) + after)

    from review.core.db import get_session

    with app.app_context():
        session = get_session()
        items = {i.id: i for i in session.scalars(select(Item).where(Item.id.in_(item_ids)))}
        decided_events = Counter(session.scalars(select(ItemEvent.item_id).where(
            ItemEvent.item_id.in_(item_ids), ItemEvent.kind == "decided")))
        for item_id, item in items.items():
            # Nothing stuck: every item ended decided, exactly once.
            assert item.status in ("approved", "rejected"), (
                item_id, item.status, item.assigned_to, item.escalated,
                [(e.kind, e.actor, e.data) for e in session.scalars(
                    select(ItemEvent).where(ItemEvent.item_id == item_id))])
            assert decided_events[item_id] == 1, (item_id, decided_events[item_id])
            assert finals[item_id] == 1, (item_id, finals[item_id])
            assert item.claimed_by is None and item.lease_token is None
            reviews = session.scalar(select(func.count()).select_from(Review)
                                     .where(Review.item_id == item_id))
            assert 1 <= reviews <= max(required_reviews, 1) + 1
            decider = next(a.name for a in (*actors, boss) if item_id in a.final) \
                if item_id in during else None
            if decider is not None:
                assert item.decided_by == decider


def test_random_interleavings_never_decide_twice_or_get_stuck(app, people):
    _interleavings(app)


# --- Ingest races ----------------------------------------------------------------


def test_single_and_batch_ingests_racing_create_one_item_per_external_id(app, make_queue,
                                                                         auth, db):
    make_queue("support", audit_rate=0.0)
    keys = [f"race-{i}" for i in range(5)]

    def payload(ext: str) -> dict:
        return {"queue": "support", "output": f"out {ext}", "confidence": 0.3,
                "external_id": ext}

    seen: dict[str, set[str]] = {k: set() for k in keys}
    statuses: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def single(ext: str) -> None:
        client = app.test_client()
        barrier.wait()
        resp = client.post("/api/v1/items", json=payload(ext), headers=auth)
        with lock:
            statuses.append(resp.status_code)
            seen[ext].add(resp.get_json()["id"])

    def batch(order: list[str]) -> None:
        client = app.test_client()
        barrier.wait()
        resp = client.post("/api/v1/items/batch", headers=auth,
                           json={"items": [payload(e) for e in order]})
        with lock:
            statuses.append(resp.status_code)
            for result in resp.get_json()["results"]:
                assert result["result"] in ("created", "replayed"), result
                seen[order[result["index"]]].add(result["id"])

    threads = [threading.Thread(target=single, args=(keys[i % 5],)) for i in range(4)]
    threads += [threading.Thread(target=batch, args=(order,)) for order in
                (keys, list(reversed(keys)), keys[1:] + keys[:1], keys[::2] + keys[1::2])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(s in (200, 201) for s in statuses), statuses
    assert all(len(ids) == 1 for ids in seen.values()), seen
    db.rollback()
    assert db.scalar(select(func.count()).select_from(Item)) == len(keys)
    assert db.scalar(select(func.count()).select_from(ItemEvent)
                     .where(ItemEvent.kind == "ingested")) == len(keys)


# --- Cases the property test found (kept as plain regressions) -----------------


def _claim_and_decide(app, name: str, slug: str, item_ids: list[str], outcome: str):
    actor = Actor(app, name, slug, item_ids)
    with app.app_context():
        actor.do_claim(0)
        held = actor.held
        if held is not None:
            actor._decide(outcome, held)
    return held


def test_assignee_who_already_reviewed_does_not_hold_a_consensus_item_back(app, people):
    slug, item_ids = new_queue(app, required_reviews=2)
    first = item_ids[0]
    held = _claim_and_decide(app, "ann", slug, item_ids, "approve")
    assert held[0] == first  # one review of two given
    boss = Actor(app, SUPERVISOR, slug, item_ids)
    with app.app_context():
        boss.do_reassign(0)  # item 0 to ann, who cannot review it again
    assert boss.errors == []
    assert _claim_and_decide(app, "ann", slug, item_ids, "approve")[0] != first
    assert _claim_and_decide(app, "ben", slug, item_ids, "approve")[0] == first


def test_escalated_item_assigned_to_a_reviewer_is_theirs_to_claim(app, people):
    slug, item_ids = new_queue(app, required_reviews=1)
    ann = Actor(app, "ann", slug, item_ids)
    with app.app_context():
        ann.do_claim(0)
        from review.human.claims import escalate

        escalate(ann.session(), ann.me(), ann.item(ann.held[0]), ann.held[1])
    escalated = ann.held[0]
    boss = Actor(app, SUPERVISOR, slug, item_ids)
    with app.app_context():
        boss.do_reassign(item_ids.index(escalated))  # REVIEWERS[i % 3] for i = index
    assignee = REVIEWERS[item_ids.index(escalated) % len(REVIEWERS)]
    others = [n for n in REVIEWERS if n != assignee]
    assert _claim_and_decide(app, others[0], slug, item_ids, "approve")[0] != escalated
    assert _claim_and_decide(app, assignee, slug, item_ids, "approve")[0] == escalated
