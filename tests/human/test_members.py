"""Membership changes, by admins and by supervisors: audited with the change, refused
without a trace."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from review.core.errors import InvalidInput, NotFound
from review.core.models import AccountEvent, Item, QueueMember
from review.human.members import (
    add_membership,
    all_memberships,
    remove_member,
    remove_membership,
    set_member,
)


def rows(db, model) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(model))


def test_add_set_and_remove_a_member(db, make_queue, make_user):
    make_queue("support")
    rita = make_user("rita")
    member = add_membership(db, "boss", "support", rita.id, ["de", " de", "legal"])
    assert member["tags"] == ["de", "legal"]
    add_membership(db, "boss", "support", rita.id, [])  # set the tags again: no second row
    assert rows(db, QueueMember) == 1
    assert all_memberships(db)[0]["members"][0]["name"] == "rita"
    remove_membership(db, "boss", "support", rita.id)
    assert rows(db, QueueMember) == 0
    actions = [(e.actor, e.action, e.data["queue"]) for e in db.scalars(
        select(AccountEvent).order_by(AccountEvent.id))]
    assert actions == [("boss", "membership.set", "support")] * 2 + \
        [("boss", "membership.removed", "support")]


def test_refusals_leave_no_audit_row(db, make_queue, make_user):
    make_queue("support")
    rita = make_user("rita")
    for args, error in ((("nope", rita.id, []), NotFound), (("support", 999_999, []), NotFound),
                        (("support", rita.id, ["x" * 65]), InvalidInput),
                        (("support", rita.id, ["\ud800"]), InvalidInput),
                        (("support", rita.id, [""]), InvalidInput)):
        with pytest.raises(error):
            add_membership(db, "boss", *args)
    with pytest.raises(NotFound):
        remove_membership(db, "boss", "support", rita.id)  # not a member
    db.rollback()
    assert rows(db, AccountEvent) == 0 and rows(db, QueueMember) == 0


def test_removing_a_member_hands_back_what_they_held(client, auth, db, make_queue, make_user,
                                                     make_key):
    make_queue("support", audit_rate=0.0)
    rita = make_user("rita", queues=("support",))
    review = {"Authorization": f"Bearer {make_key('rita-key', 'review', rita)}"}
    client.post("/api/v1/items", headers=auth,
                json={"queue": "support", "output": "x", "confidence": 0.1})
    assert client.post("/api/v1/queues/support/claim", headers=review).status_code == 200
    remove_membership(db, "api:ops", "support", rita.id)
    item = db.scalars(select(Item)).one()
    db.refresh(item)
    assert (item.status, item.claimed_by) == ("pending", None)


def test_a_supervisors_membership_changes_are_audited_too(db, make_queue, make_user):
    """The manage page's path (by user name, actor a supervisor) writes the same trail."""
    queue = make_queue("support")
    rita = make_user("rita")
    set_member(db, "sue", queue, "rita", ["de"])
    assert remove_member(db, "sue", queue, rita.id)
    assert not remove_member(db, "sue", queue, rita.id)  # not a member: nothing written
    actions = [(e.actor, e.action, e.user_id) for e in db.scalars(
        select(AccountEvent).order_by(AccountEvent.id))]
    assert actions == [("sue", "membership.set", rita.id), ("sue", "membership.removed", rita.id)]
