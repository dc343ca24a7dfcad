"""The chaos run: a steady ingest + review load against real processes
(gunicorn, `review worker` and `review worker --fork`) on PostgreSQL and a
private Redis, while faults are injected at random: kill -9 of web and RQ worker processes (and of
single gunicorn workers and RQ work horses), the database cut off, Redis
killed and restarted empty, the checker and the webhook receiver hanging and
failing. A supervisor thread restarts dead processes, as systemd would.

After the faults stop and the system drains, every item whose ingest was
answered 200/201 exists, is decided exactly once with a consistent review
and a complete audit trail, and its decision webhook reached the receiver at
least once with a valid signature. No request got a 500; every 503 carried
Retry-After.

Runs only with REVIEW_CHAOS=1 and TEST_DATABASE_URL (.ci/run sets both);
about two to three minutes.
"""

from __future__ import annotations

import os
import random
import secrets
import sys
import threading
import time
from collections import Counter

import pytest
from sqlalchemy import func, select

from review.core.models import Item, ItemEvent, Queue, Review, WebhookDelivery
from tests.chaos.harness import (
    Database,
    PrivateRedis,
    Proc,
    Supervisor,
    Switchable,
    free_port,
    judge,
    wait_port,
)
from tests.chaos.load import Record, Reviewer, Submitter
from tests.conftest import PG_URL, _create_pg_database, _drop_pg_database, make_config

pytestmark = pytest.mark.skipif(
    not (os.environ.get("REVIEW_CHAOS") and PG_URL),
    reason="the chaos run needs REVIEW_CHAOS=1 and TEST_DATABASE_URL (see .ci/run)")

LOAD_SECONDS = float(os.environ.get("CHAOS_LOAD_SECONDS", 45))
DRAIN_DEADLINE = 180  # the longest wait: a delivery claimed by a killed worker (~62 s)
REVIEWERS = ("ria", "sol", "tam")
SETTINGS = dict(
    LEASE_SECONDS=5, CHECK_TIMEOUT=1.5, CHECK_RETRIES=1, CHECK_STALE_SECONDS=6,
    MAX_CHECK_ATTEMPTS=3, SWEEP_INTERVAL=2, SLA_TICK_INTERVAL=2, WEBHOOK_TIMEOUT=1.5,
    WEBHOOK_RETRY_BASE=0.5, WEBHOOK_RETRY_MAX_DELAY=3, INGEST_RATE_LIMIT=1_000_000,
    ALERT_EVAL_INTERVAL=3600,
)


@pytest.fixture
def system(tmp_path):
    """Database, Redis, checker, receiver, seeded queue/users/keys, processes."""
    url, name = _create_pg_database(PG_URL)
    from review.core.migrate import upgrade

    upgrade(url)
    db = Database(PG_URL, url, name)
    redis = PrivateRedis(tmp_path)
    redis.up()
    checker = Switchable(judge, hang_for=3)
    receiver = Switchable(lambda _body: {"ok": True}, hang_for=3)
    prefix = f"chaos-{secrets.token_hex(4)}"
    cfg = make_config(url, redis.url, tmp_path, REDIS_PREFIX=prefix, **SETTINGS)
    keys = seed(cfg, checker.url, receiver.url)

    env = {k: v for k, v in os.environ.items() if not k.startswith("TEST_")}
    env.update({k: str(v) for k, v in SETTINGS.items()})
    env.update(DATABASE_URL=url, REDIS_URL=redis.url, REDIS_PREFIX=prefix,
               SECRET_KEY=cfg.SECRET_KEY, INSTANCE_DIR=str(tmp_path),
               ALLOWED_CALLBACK_HOSTS="127.0.0.1")
    port = free_port()
    web = Proc("web", [sys.executable, "-m", "gunicorn", "-w", "2", "--threads", "4",
                       "-b", f"127.0.0.1:{port}", "--timeout", "30", "--graceful-timeout", "1",
                       "review.factory:create_app()"], env, tmp_path)
    # Both worker modes: jobs in-process (the default) and in forked work horses.
    workers = [Proc(f"worker-{n}", [sys.executable, "-m", "review.cli", "worker", *extra], env,
                    tmp_path) for n, extra in ((1, []), (2, ["--fork"]))]
    supervisor = Supervisor([web, *workers])
    supervisor.start()
    wait_port(port)
    try:
        yield dict(db=db, redis=redis, checker=checker, receiver=receiver, web=web,
                   workers=workers, base=f"http://127.0.0.1:{port}", keys=keys,
                   logs=tmp_path)
    finally:
        supervisor.stop()
        redis.down()
        checker.stop()
        receiver.stop()
        db.restore()
        db.dispose()
        _drop_pg_database(PG_URL, name)


def seed(cfg, checker_url: str, receiver_url: str) -> dict:
    from review.core.accounts import create_api_key, create_user
    from review.core.db import get_session
    from review.core.models import QueueMember
    from review.core.queues import apply_policy, validate_policy
    from review.factory import create_app

    app = create_app(cfg)
    with app.app_context():
        session = get_session()
        apply_policy(session, "chaos", validate_policy("chaos", {
            "audit_rate": 0.0, "auto_approve_at": 0.9, "review_below": 0.6,
            "reject_reasons": ["wrong"], "webhook_url": receiver_url,
            "checker": {"type": "http", "url": checker_url, "timeout": 1.5, "retries": 1,
                        "backoff": 0.1}}), actor="chaos")
        queue = session.scalar(select(Queue).where(Queue.slug == "chaos"))
        submit, raw_submit = create_api_key(session, "upstream", "submit")
        review_keys = {}
        for name in REVIEWERS:
            user = create_user(session, name, "correct horse", "reviewer")
            session.add(QueueMember(queue_id=queue.id, user_id=user.id, tags=[]))
            review_keys[name] = create_api_key(session, f"{name}-key", "review", user)[1]
        session.commit()
        secret = submit.webhook_secret
    app.extensions["review.engine"].dispose()
    return {"submit": raw_submit, "review": review_keys, "webhook_secret": secret}


def run_faults(s: dict, until: float, log: list[str]) -> None:
    """Inject faults one after another, in random order, until `until`."""
    rng = random.Random()
    web, workers, redis, db = s["web"], s["workers"], s["redis"], s["db"]
    checker, receiver = s["checker"], s["receiver"]

    def outage(target, mode: str) -> None:
        target.mode = mode
        time.sleep(rng.uniform(2, 4))
        target.mode = "ok"

    def kill(proc: Proc, down_for: float) -> None:
        proc.hold.set()
        proc.kill9()
        time.sleep(down_for)
        proc.hold.clear()

    faults = {
        "kill -9 a gunicorn worker": lambda: web.kill9_child(),
        "kill -9 gunicorn": lambda: kill(web, rng.uniform(0.5, 2)),
        "kill -9 an RQ worker": lambda: kill(rng.choice(workers), rng.uniform(0.5, 2)),
        "kill -9 an RQ work horse": lambda: workers[1].kill9_child(),
        "Redis killed (restarts empty)": lambda: (redis.down(), time.sleep(rng.uniform(2, 4)),
                                                  redis.up()),
        "database cut off": lambda: (db.cut_off(), time.sleep(rng.uniform(2, 4)),
                                     db.restore()),
        "checker hangs": lambda: outage(checker, "hang"),
        "checker fails": lambda: outage(checker, "fail"),
        "receiver hangs": lambda: outage(receiver, "hang"),
        "receiver fails": lambda: outage(receiver, "fail"),
    }
    plan = list(faults) * 3
    rng.shuffle(plan)
    # Every kind of fault at least once, the database first so 503s are seen.
    plan = ["database cut off", *list(faults), *plan]
    for name in plan:
        if time.monotonic() >= until:
            break
        log.append(name)
        faults[name]()
        time.sleep(rng.uniform(0.3, 1.5))


def outstanding(db: Database, ids: set[str]) -> tuple[int, int]:
    """(accepted items not decided, their deliveries not delivered)."""
    with db.engine.connect() as conn:
        undecided = conn.scalar(select(func.count()).select_from(Item).where(
            Item.id.in_(ids), Item.decided_at.is_(None)))
        undelivered = conn.scalar(select(func.count()).select_from(WebhookDelivery).where(
            WebhookDelivery.item_id.in_(ids), WebhookDelivery.status != "delivered"))
    return undecided, undelivered


def test_nothing_is_lost_under_chaos(system):
    s = system
    record = Record()
    stop_ingest, give_up, stop_review = threading.Event(), threading.Event(), threading.Event()
    submitters = [Submitter(n, s["base"], s["keys"]["submit"], record, stop_ingest, give_up)
                  for n in range(3)]
    reviewers = [Reviewer(name, s["base"], s["keys"]["review"][name], record, stop_review)
                 for name in REVIEWERS]
    for t in (*submitters, *reviewers):
        t.start()

    faults: list[str] = []
    started = time.monotonic()
    run_faults(s, started + LOAD_SECONDS, faults)
    stop_ingest.set()
    for t in submitters:  # unanswered requests keep retrying a while, then are given up
        t.join(timeout=30)
    give_up.set()
    for t in submitters:
        t.join()

    # Drain: everything up, reviewers keep deciding, workers deliver.
    ids = set(record.accepted.values())
    drain_started = time.monotonic()
    while True:
        undecided, undelivered = outstanding(s["db"], ids)
        if undecided == undelivered == 0:
            break
        if time.monotonic() - drain_started > DRAIN_DEADLINE:
            pytest.fail(f"not drained: {undecided} undecided, {undelivered} undelivered "
                        f"(logs in {s['logs']})")
        time.sleep(1)
    stop_review.set()
    for t in reviewers:
        t.join(timeout=30)

    print(f"\nchaos: {len(ids)} items accepted in {LOAD_SECONDS:.0f} s; faults: "
          f"{dict(Counter(faults))}; restarts: "
          f"{ {p.name: p.starts - 1 for p in (s['web'], *s['workers'])} }; "
          f"answers: {dict(record.statuses)}; lost connections: {record.connection_errors}; "
          f"drained in {time.monotonic() - drain_started:.0f} s")

    # The clients never saw a 500, and every 503 said when to retry.
    assert record.unexpected == []
    assert record.unavailable_without_retry_after == 0
    assert record.statuses[503] > 0, "the database outage was never observed"
    assert ids and all(n == 1 for n in record.decisions_ok.values())
    verify(s, record, ids)


def verify(s: dict, record: Record, ids: set[str]) -> None:
    from review.webhooks.signing import EVENT_HEADER, SIGNATURE_HEADER, verify_signature

    with s["db"].engine.connect() as conn:
        items = {i.id: i for i in conn.execute(select(Item).where(Item.id.in_(ids)))}
        assert set(items) == ids, "an accepted item is missing"
        by_ext = {i.external_id: i.id for i in items.values()}
        assert by_ext == record.accepted
        events: dict[str, list] = {}
        for e in conn.execute(select(ItemEvent).where(ItemEvent.item_id.in_(ids))
                              .order_by(ItemEvent.id)):
            events.setdefault(e.item_id, []).append(e)
        reviews: dict[str, list] = {}
        for r in conn.execute(select(Review).where(Review.item_id.in_(ids))):
            reviews.setdefault(r.item_id, []).append(r)
        deliveries = {d.item_id: d for d in conn.execute(
            select(WebhookDelivery).where(WebhookDelivery.item_id.in_(ids)))}
    for item_id, item in items.items():
        kinds = [e.kind for e in events[item_id]]
        # Decided exactly once, by the one recorded decider.
        assert item.status in ("approved", "rejected"), (item_id, item.status)
        assert kinds[:2] == ["ingested", "routed"], (item_id, kinds)
        decided = [e for e in events[item_id] if e.kind == "decided"]
        assert len(decided) == 1, (item_id, kinds)
        assert decided[0].actor == item.decided_by
        assert decided[0].data["outcome"] == item.decision_outcome
        assert item.claimed_by is None and item.lease_token is None
        mine = reviews.get(item_id, [])
        if item.decided_by_kind == "reviewer":
            # One review, the decider's, agreeing with the decision; they had claimed it.
            assert len(mine) == 1 and mine[0].outcome == item.decision_outcome, item_id
            assert any(e.kind == "claimed" and e.actor == item.decided_by
                       for e in events[item_id]), (item_id, kinds)
            assert record.decisions_ok[item_id] <= 1
        else:
            assert mine == [], (item_id, item.decided_by_kind)
            assert item.decided_by_kind in ("router", "checker"), item.decided_by_kind
            if item.decided_by_kind == "checker":
                assert "checked" in kinds, (item_id, kinds)
        # The decision webhook arrived at least once, signed with the submitter's secret.
        delivery = deliveries[item_id]
        assert delivery.status == "delivered", (item_id, delivery.status)
        event_id = f"evt_{item_id}_decided"
        assert s["receiver"].answered_ok.get(event_id, 0) >= 1, event_id
        headers, body = s["receiver"].bodies[event_id]
        assert headers[EVENT_HEADER] == event_id
        assert verify_signature(s["keys"]["webhook_secret"], headers[SIGNATURE_HEADER], body,
                                tolerance=3600)
