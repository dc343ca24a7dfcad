"""The account lifecycle services: each commits its change with one audit row, or
refuses with a domain error and leaves nothing behind."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from review.core.accounts import (
    add_key,
    add_user,
    change_own_password,
    issue_api_key,
    key_to_dict,
    register_user,
    revoke_key,
    rotate_key,
    set_password,
    set_user_active,
    set_user_role,
    verify_password,
)
from review.core.errors import Conflict, InvalidInput, NotAllowed, NotFound
from review.core.models import AccountEvent, ApiKey, QueueMember, User


def events(db) -> list[tuple[str, str]]:
    db.expire_all()
    return [(e.actor, e.action) for e in db.scalars(select(AccountEvent).order_by(
        AccountEvent.id))]


def count(db, model) -> int:
    return db.scalar(select(func.count()).select_from(model))


def test_add_user_audits_and_refuses_cleanly(db, make_queue):
    make_queue("support")
    user = add_user(db, "root", "rita", "long enough", "reviewer", ["support"])
    assert (user.role, user.active) == ("reviewer", True)
    assert count(db, QueueMember) == 1
    assert events(db) == [("root", "user.created")]
    for name, password, role, queues, error in (
            ("rita", "long enough", "reviewer", [], Conflict),
            ("bad name", "long enough", "reviewer", [], InvalidInput),
            ("-dash", "long enough", "reviewer", [], InvalidInput),
            ("x" * 81, "long enough", "reviewer", [], InvalidInput),
            ("sam", "short", "reviewer", [], InvalidInput),
            ("sam", "x" * 201, "reviewer", [], InvalidInput),
            ("sam", "\ud800 lone surrogate", "reviewer", [], InvalidInput),
            ("sam", "long enough", "owner", [], InvalidInput),
            ("sam", "long enough", "reviewer", ["nope"], NotFound)):
        with pytest.raises(error):
            add_user(db, "root", name, password, role, queues)
    db.rollback()
    assert count(db, User) == 1 and count(db, QueueMember) == 1
    assert len(events(db)) == 1


def test_deactivate_ends_sessions_and_guards_the_last_admin(db, make_user):
    rita = make_user("rita")
    boss = make_user("boss", "admin")
    version = rita.session_version
    user, changed = set_user_active(db, "boss", rita.id, False, acting_user_id=boss.id)
    assert changed and not user.active and user.session_version == version + 1
    assert set_user_active(db, "boss", rita.id, False)[1] is False  # no change, no row
    user, changed = set_user_active(db, "boss", rita.id, True)
    # Activating does not revive old cookies: the version stays moved on.
    assert changed and user.active and user.session_version == version + 1
    with pytest.raises(NotAllowed):
        set_user_active(db, "boss", boss.id, False, acting_user_id=boss.id)
    with pytest.raises(Conflict) as refused:
        set_user_active(db, "cli", boss.id, False)
    assert refused.value.code == "last_admin"
    assert [a for _, a in events(db)] == ["user.deactivated", "user.activated"]
    with pytest.raises(NotFound):
        set_user_active(db, "boss", 999_999, False)


def test_role_change_is_audited_and_keeps_an_admin(db, make_user):
    rita = make_user("rita")
    boss = make_user("boss", "admin")
    user, changed = set_user_role(db, "boss", rita.id, "supervisor", acting_user_id=boss.id)
    assert changed and user.role == "supervisor"
    event = db.scalar(select(AccountEvent))
    assert (event.action, event.data["from"], event.data["to"]) == \
        ("user.role_changed", "reviewer", "supervisor")
    with pytest.raises(Conflict):
        set_user_role(db, "cli", boss.id, "reviewer")  # the last admin
    with pytest.raises(NotAllowed):
        set_user_role(db, "boss", boss.id, "reviewer", acting_user_id=boss.id)
    with pytest.raises(InvalidInput):
        set_user_role(db, "boss", rita.id, "owner")
    set_user_role(db, "boss", rita.id, "admin")
    set_user_role(db, "rita", boss.id, "reviewer", acting_user_id=rita.id)  # now allowed
    assert db.get(User, boss.id).role == "reviewer"


def test_set_password_ends_sessions(db, make_user):
    rita = make_user("rita")
    version = rita.session_version
    user = set_password(db, "cli", rita.id, "a new password")
    assert verify_password(user, "a new password")
    assert not verify_password(user, "correct horse")
    assert user.session_version == version + 1
    with pytest.raises(InvalidInput):
        set_password(db, "cli", rita.id, "short")
    assert events(db) == [("cli", "user.password_set")]


def test_change_own_password_needs_the_current_one(db, make_user):
    rita = make_user("rita")
    with pytest.raises(NotAllowed):
        change_own_password(db, rita.id, "wrong guess", "a new password")
    with pytest.raises(InvalidInput):
        change_own_password(db, rita.id, "correct horse", "short")
    db.rollback()
    db.expire_all()
    assert verify_password(db.get(User, rita.id), "correct horse")
    assert events(db) == []
    user = change_own_password(db, rita.id, "correct horse", "a new password")
    assert verify_password(user, "a new password")
    assert user.session_version == rita.session_version + 1
    assert events(db) == [("rita", "user.password_changed")]


def test_keys_issue_revoke_rotate(db, make_user):
    rita = make_user("rita")
    with pytest.raises(InvalidInput):
        add_key(db, "root", "rita-key", "review")  # a review key needs its user
    with pytest.raises(NotFound):
        add_key(db, "root", "rita-key", "review", "nobody")
    with pytest.raises(InvalidInput):
        add_key(db, "root", "svc", "everything")
    key, raw = add_key(db, "root", "rita-key", "review", "rita")
    assert raw.startswith("rv_") and key.user_id == rita.id
    shown = key_to_dict(key)
    assert raw not in str(shown) and key.key_hash not in str(shown)
    assert key.webhook_secret not in str(shown)

    new, new_raw = rotate_key(db, "root", key.id)
    assert (new.name, new.scope, new.user_id) == (key.name, key.scope, key.user_id)
    assert new.webhook_secret == key.webhook_secret and new_raw != raw
    assert db.get(ApiKey, key.id).revoked_at is not None
    with pytest.raises(Conflict):
        rotate_key(db, "root", key.id)
    with pytest.raises(Conflict):
        revoke_key(db, "root", key.id)
    assert revoke_key(db, "root", new.id).revoked_at is not None
    with pytest.raises(NotFound):
        revoke_key(db, "root", 999_999)
    assert [a for _, a in events(db)] == ["key.created", "key.rotated", "key.revoked"]
    rotated = db.scalars(select(AccountEvent).where(AccountEvent.action == "key.rotated")).one()
    assert rotated.data["key_id"] == key.id and rotated.data["new_key_id"] == new.id


def test_the_cli_services_audit_too(db, make_queue):
    make_queue("support")
    register_user(db, "sam", "long enough", "reviewer", ["support"], actor="cli:ops")
    issue_api_key(db, "sam-key", "review", "sam", actor="cli:ops")
    assert events(db) == [("cli:ops", "user.created"), ("cli:ops", "key.created")]
