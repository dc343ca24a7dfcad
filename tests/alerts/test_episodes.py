"""Episodes: an episode that is open already undoes nothing else in the caller's pass
(the drift check resolves one version's shift while another's stays open)."""

from __future__ import annotations

import itertools
import random
from datetime import timedelta

from sqlalchemy import insert, select

from review.core.clock import utcnow
from review.core.models import Alert, Item, LearnedThreshold, Queue
from review.core.settings import settings

_ids = itertools.count()


def open_keys(db) -> list[str]:
    db.rollback()
    return sorted(db.scalars(select(Alert.episode_key).where(Alert.resolved_at.is_(None))))


def test_an_open_duplicate_keeps_the_resolutions_of_the_same_pass(app, db):
    from review.alerts.episodes import Condition, open_episode, resolve_episodes
    from review.core.db import get_session

    now = utcnow()
    with app.app_context():
        session = get_session()
        for key in ("a", "b"):
            assert open_episode(session, Condition("backlog_cap", key, key), now) is not None
        resolve_episodes(session, ["a"], now)
        assert open_episode(session, Condition("backlog_cap", "b", "b"), now) is None
    assert open_keys(db) == ["b"]
    assert len(db.scalars(select(Alert)).all()) == 2


def add_confidences(db, queue, version: str, confidences, created) -> None:
    db.execute(insert(Item), [
        dict(id=f"ep{next(_ids):010d}", queue_id=queue.id, submitter="up", body_hash="0",
             status="approved", route_path="human", route_reasons=[], confidence=c,
             output="x", context=[], meta={}, created_at=created + timedelta(seconds=i),
             model_version=version, prompt_version="p1")
        for i, c in enumerate(confidences)])
    db.commit()


def test_a_cleared_shift_resolves_while_another_version_stays_shifted(app, db, make_queue,
                                                                        monkeypatch):
    from review.adaptive.drift import shift_key, update_shift_alerts

    monkeypatch.setattr(settings(app), "SHIFT_WINDOW", 100)
    queue = make_queue("drifting", audit_rate=0.0)
    rng = random.Random(3)
    base = utcnow() - timedelta(hours=5)
    # The version that will clear is read first, so its resolution comes before the
    # other version's "open already" in the same pass.
    for version in ("v-clears", "v-stays"):
        db.add(LearnedThreshold(queue_id=queue.id, model_version=version, prompt_version="p1"))
        add_confidences(db, queue, version, [0.85 + 0.15 * rng.random() for _ in range(300)],
                        base)
        add_confidences(db, queue, version, [0.5 + 0.3 * rng.random() for _ in range(100)],
                        base + timedelta(hours=1))
    db.commit()
    queue = db.get(Queue, queue.id)
    clears, stays = (shift_key(queue, v, "p1") for v in ("v-clears", "v-stays"))
    assert sorted(update_shift_alerts(db, queue, utcnow())) == sorted([clears, stays])
    assert open_keys(db) == sorted([clears, stays])

    # The past catches up with the present for one version only.
    add_confidences(db, queue, "v-clears", [0.5 + 0.3 * rng.random() for _ in range(400)],
                    base + timedelta(hours=2))
    assert update_shift_alerts(db, db.get(Queue, queue.id), utcnow()) == [stays]
    assert open_keys(db) == [stays]

