"""Skip keeps an item away from the reviewer who skipped it (for SKIP_COOLDOWN_SECONDS),
while other reviewers still get it at once; on SQLite and PostgreSQL, with real Redis."""

from __future__ import annotations

import time

import pytest

from review.core.db import get_session
from review.core.settings import settings
from review.human.claims import claim_next, release, skip, skipped_waiting
from review.human.verdicts import Verdict, decide_as_reviewer
from tests.human.test_claims import add_items, queue_named, user_named


@pytest.fixture
def two_reviewers(app, make_queue, make_user):
    make_queue("support")
    make_user("ana", queues=("support",))
    make_user("ben", queues=("support",))


def approve(session, user, claim) -> None:
    decide_as_reviewer(session, claim.item.id, user, claim.lease_token, Verdict("approve"))


def test_skipped_item_does_not_come_straight_back(app, two_reviewers):
    a, b, c = add_items(app, "support", 3)
    with app.app_context():
        session = get_session()
        ana, queue = user_named(session, "ana"), queue_named(session, "support")
        first = claim_next(session, ana, queue)
        assert first.item.id == a
        skip(session, ana, first.item, first.lease_token)
        second = claim_next(session, ana, queue)
        assert second.item.id == b
        approve(session, ana, second)
        # Before the fix A came straight back here.
        third = claim_next(session, ana, queue)
        assert third.item.id == c
        approve(session, ana, third)
        # Only the skipped item is left: nothing for ana, and she is told why.
        assert claim_next(session, ana, queue) is None
        count, back_in = skipped_waiting(session, ana, queue)
        assert count == 1 and 0 < back_in <= settings().SKIP_COOLDOWN_SECONDS
        # Another reviewer gets it at once.
        ben = user_named(session, "ben")
        assert claim_next(session, ben, queue).item.id == a


def test_a_plain_release_is_not_a_skip(app, two_reviewers):
    a, _b = add_items(app, "support", 2)
    with app.app_context():
        session = get_session()
        ana, queue = user_named(session, "ana"), queue_named(session, "support")
        claim = claim_next(session, ana, queue)
        release(session, ana, claim.item, claim.lease_token)
        assert claim_next(session, ana, queue).item.id == a
        assert skipped_waiting(session, ana, queue) == (0, 0.0)


def test_the_skip_ends_after_the_cooldown(app, two_reviewers):
    a, = add_items(app, "support", 1)
    cfg = settings(app)
    before = cfg.SKIP_COOLDOWN_SECONDS
    cfg.SKIP_COOLDOWN_SECONDS = 1
    try:
        with app.app_context():
            session = get_session()
            ana, queue = user_named(session, "ana"), queue_named(session, "support")
            claim = claim_next(session, ana, queue)
            skip(session, ana, claim.item, claim.lease_token)
            assert claim_next(session, ana, queue) is None
            deadline = time.monotonic() + 5
            back = None
            while back is None and time.monotonic() < deadline:
                time.sleep(0.2)
                back = claim_next(session, ana, queue)
            assert back is not None and back.item.id == a
    finally:
        cfg.SKIP_COOLDOWN_SECONDS = before


def test_cooldown_zero_turns_skips_off(app, two_reviewers):
    a, _b = add_items(app, "support", 2)
    cfg = settings(app)
    before = cfg.SKIP_COOLDOWN_SECONDS
    cfg.SKIP_COOLDOWN_SECONDS = 0
    try:
        with app.app_context():
            session = get_session()
            ana, queue = user_named(session, "ana"), queue_named(session, "support")
            claim = claim_next(session, ana, queue)
            skip(session, ana, claim.item, claim.lease_token)
            assert claim_next(session, ana, queue).item.id == a
    finally:
        cfg.SKIP_COOLDOWN_SECONDS = before


def test_without_redis_skips_are_forgotten_and_claims_go_on(app, two_reviewers, database_url,
                                                           instance_dir):
    """Redis unreachable: skip still releases, claiming ignores skips, nothing waits on
    Redis claim after claim (one failure, then a back-off)."""
    from review.factory import create_app
    from review.human import skips
    from tests.conftest import make_config

    a, _b = add_items(app, "support", 2)
    broken = create_app(make_config(database_url, "redis://127.0.0.1:1/0", instance_dir))
    skips._down_until[0] = 0.0
    try:
        with broken.app_context():
            session = get_session()
            ana, queue = user_named(session, "ana"), queue_named(session, "support")
            started = time.monotonic()
            claim = claim_next(session, ana, queue)
            assert claim.item.id == a
            skip(session, ana, claim.item, claim.lease_token)
            assert claim_next(session, ana, queue).item.id == a  # the skip was not kept
            assert time.monotonic() - started < 3
            assert skips._down_until[0] > time.monotonic()  # backing off
    finally:
        skips._down_until[0] = 0.0
