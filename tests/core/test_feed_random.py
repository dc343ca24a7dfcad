"""Random interleavings of decisions, commits, rollbacks and page reads: a client that
follows the cursor sees every committed decision exactly once and nothing else
(docs/reliability.md).

Decisions come from both write paths (the deciding step's UPDATE, the router's INSERT)
on app servers whose clocks are up to ten years off, in transactions that stay open
across page reads. The first test is one thread driving several open transactions
(seeded: a failure names its seed); the second runs real concurrent deciders and a
reader. On SQLite at most one transaction writes at a time (a second would wait for the
first), so the single-thread test keeps one open there.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from review.human import decisions
from tests.core.feedkit import (
    Follower,
    decide,
    in_app,
    insert_auto_approved,
    is_postgres,
    pending_items,
    skewed_utcnow,
)

SKEWS = [timedelta(0)] * 4 + [timedelta(seconds=s) for s in (-30, -1, 1, 30)] + [
    timedelta(hours=-1), timedelta(hours=1), timedelta(days=-3650)]


@pytest.fixture(autouse=True)
def support_queue(make_queue, monkeypatch):
    make_queue("support", audit_rate=0.0)
    monkeypatch.setattr(decisions, "utcnow", skewed_utcnow)


def assert_exactly_once(seen: list[str], committed: set[str], context: object) -> None:
    duplicates = sorted({i for i in seen if seen.count(i) > 1})
    assert not duplicates, (f"listed twice: {duplicates}", context)
    assert set(seen) - committed == set(), ("listed but never committed", context)
    assert committed - set(seen) == set(), ("committed but never listed", context)


@pytest.mark.parametrize("seed", range(8))
def test_random_interleavings_list_every_decision_exactly_once(app, client, auth, seed):
    rng = random.Random(seed)
    max_open = 3 if is_postgres(app) else 1
    todo = pending_items(app, 40)
    factory = app.extensions["review.sessionmaker"]
    inserted = itertools.count()
    open_tx: list[tuple[Session, list[str]]] = []
    committed: set[str] = set()
    follower = Follower(client, auth)
    script: list[str] = []
    try:
        for _step in range(140):
            action = rng.choices(["decide", "insert", "commit", "rollback", "read"],
                                 weights=[4, 2, 3, 1, 4])[0]
            if action in ("decide", "insert"):
                if open_tx and (len(open_tx) >= max_open or rng.random() < 0.5):
                    session, ids = rng.choice(open_tx)
                else:
                    session, ids = factory(), []
                    open_tx.append((session, ids))
                skew = rng.choice(SKEWS)
                if action == "decide" and todo:
                    item_id = todo.pop(rng.randrange(len(todo)))
                    decide(session, item_id, skew)
                else:
                    item_id = f"auto-{seed}-{next(inserted)}"
                    insert_auto_approved(session, item_id, skew)
                ids.append(item_id)
                script.append(f"{action} {item_id} tx{id(session) % 1000} {skew}")
            elif action in ("commit", "rollback") and open_tx:
                session, ids = open_tx.pop(rng.randrange(len(open_tx)))
                if action == "commit":
                    session.commit()
                    committed.update(ids)
                else:
                    session.rollback()
                    todo += [i for i in ids if not i.startswith("auto-")]
                session.close()
                script.append(f"{action} {ids}")
            elif action == "read":
                got = follower.page(limit=rng.randint(1, 4))
                script.append(f"read {got}")
    finally:
        for session, ids in open_tx:
            session.commit()
            committed.update(ids)
            session.close()
    follower.drain(limit=3)
    assert committed, "the script decided nothing"
    assert_exactly_once(follower.seen, committed, (seed, script))


def test_concurrent_deciders_and_a_reader_list_every_decision_exactly_once(app, auth):
    """Four deciders (each its own app server and clock) decide one to three items per
    transaction, sleep inside it, and sometimes roll back; a reader follows the cursor
    all along. Afterwards it has seen each committed decision once."""
    writers, per_writer = 4, 12
    todo = pending_items(app, writers * per_writer)
    committed: set[str] = set()
    lock = threading.Lock()
    errors: list[BaseException] = []
    done = threading.Event()
    follower = Follower(app.test_client(), auth)

    def writer(n: int, ids: list[str]) -> None:
        rng = random.Random(1000 + n)
        inserted = itertools.count()
        try:
            while ids:
                batch = [ids.pop() for _ in range(min(len(ids), rng.randint(1, 3)))]

                def run(session: Session, batch: list[str] = batch) -> None:
                    made = []
                    for item_id in batch:
                        decide(session, item_id, rng.choice(SKEWS))
                        made.append(item_id)
                        if rng.random() < 0.3:
                            auto = f"auto-{n}-{next(inserted)}"
                            insert_auto_approved(session, auto, rng.choice(SKEWS))
                            made.append(auto)
                        time.sleep(rng.random() * 0.05)
                    if rng.random() < 0.1:
                        session.rollback()
                        return
                    session.commit()
                    with lock:
                        committed.update(made)

                in_app(app, run)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    def reader() -> None:
        rng = random.Random(7)
        try:
            while not done.is_set():
                follower.page(limit=rng.randint(1, 5))
                time.sleep(rng.random() * 0.02)
        except BaseException as exc:
            errors.append(exc)

    chunks = [todo[i::writers] for i in range(writers)]
    threads = [threading.Thread(target=writer, args=(n, chunk)) for n, chunk in enumerate(chunks)]
    reading = threading.Thread(target=reader)
    reading.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    done.set()
    reading.join(60)
    assert not errors, errors
    follower.drain(limit=5)
    assert len(committed) > writers * per_writer // 2
    assert_exactly_once(follower.seen, committed, "threads")
