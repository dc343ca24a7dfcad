"""Overflow reviewers (issue 18): brought in only when the queue is over its cap or items
are at risk, and offered at-risk items first."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from review.core.clock import utcnow
from review.core.db import get_session
from review.core.models import Item, Queue, User
from review.human.claims import claim_next
from review.intake.ingest import submit_batch


def add_items(app, count: int) -> list[str]:
    payloads = [{"queue": "q", "output": f"a{i}", "confidence": 0.1} for i in range(count)]
    with app.app_context():
        return [r["id"] for r in submit_batch(get_session(), payloads, "upstream")]


def claim(app, name: str):
    with app.app_context():
        session = get_session()
        user = session.scalar(select(User).where(User.name == name))
        queue = session.scalar(select(Queue).where(Queue.slug == "q"))
        got = claim_next(session, user, queue)
        return got.item.id if got else None


def test_overflow_reviewer_waits_until_needed(app, make_queue, make_user):
    make_queue("q", audit_rate=0.0, backlog_cap=4, sla_seconds=1000,
               overflow_reviewers=["olga"])
    make_user("rita", queues=("q",))
    make_user("olga", queues=("q",))
    ids = add_items(app, 3)
    assert claim(app, "olga") is None  # under the cap, nothing at risk
    assert claim(app, "rita") == ids[0]  # ordinary members are not affected
    with app.app_context():
        session = get_session()
        # The last item is due in 100 s: within the last 20 % of its 1000 s SLA.
        session.execute(update(Item).where(Item.id == ids[2])
                        .values(due_at=utcnow() + timedelta(seconds=100)))
        session.commit()
    assert claim(app, "olga") == ids[2]  # at risk: offered to her, and first


def test_overflow_reviewer_takes_anything_over_the_cap(app, make_queue, make_user):
    make_queue("q", audit_rate=0.0, backlog_cap=2, overflow_reviewers=["olga"])
    make_user("olga", queues=("q",))
    ids = add_items(app, 3)
    assert claim(app, "olga") == ids[0]


def test_at_risk_first_when_over_the_cap(app, make_queue, make_user):
    make_queue("q", audit_rate=0.0, backlog_cap=2, sla_seconds=1000,
               overflow_reviewers=["olga"])
    make_user("olga", queues=("q",))
    ids = add_items(app, 4)
    with app.app_context():
        session = get_session()
        session.execute(update(Item).where(Item.id == ids[3])
                        .values(due_at=utcnow() - timedelta(seconds=5)))
        session.commit()
    assert claim(app, "olga") == ids[3]
