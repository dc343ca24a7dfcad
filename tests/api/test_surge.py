"""The surge (issue 18, done-when): 1,500 items within a minute into a queue capped at 300
while 3 reviewers work (one of them an overflow reviewer), once per overflow policy, over
real HTTP. Shows what upstream receives, what is shed and what humans get; the alert
opens within a minute; every item is accounted for in the database."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC

import pytest
import requests
from sqlalchemy import func, select

from review.alerts.rules import evaluate_alerts
from review.core.db import get_session
from review.core.liveness import Liveness
from review.core.models import Alert, Item, OverflowShed, Queue, User
from review.human.claims import claim_next
from review.human.verdicts import Verdict, decide_as_reviewer
from review.intake.overflow import forget_alert_attempts

TOTAL, BATCH, CAP = 1500, 50, 300
THINK_SECONDS = 0.5  # a reviewer's time per item, shortened from minutes to fit a test
REVIEWERS = ("ann", "bob", "olga")  # olga is the queue's overflow reviewer
ALIVE = Liveness(redis_ok=True, workers_alive=1, newest_worker_age=1.0, scheduler_age=1.0)


def _payload(n: int) -> dict:
    item = {"queue": "surge", "output": f"answer {n}", "external_id": f"s{n}",
            "confidence": 0.97 if n % 5 == 0 else 0.2}  # a fifth the router approves
    if n % 50 == 1:
        item["priority"] = 95  # above the priority floor: never shed
    if n % 50 == 2:
        item["output"] = "x" * 300  # over max_output_chars: a validation failure
    return item


def _reviewer(app, name: str, stop: threading.Event, decided: Counter) -> None:
    with app.app_context():
        session = get_session()
        user = session.scalar(select(User).where(User.name == name))
        queue = session.scalar(select(Queue).where(Queue.slug == "surge"))
        while not stop.is_set():
            claim = claim_next(session, user, queue)
            if claim is None:
                time.sleep(0.05)
                continue
            time.sleep(THINK_SECONDS)
            decide_as_reviewer(session, claim.item.id, user, claim.lease_token,
                               Verdict("approve"))
            decided[name] += 1


@pytest.mark.parametrize("policy", ["accept", "reject", "fallback"])
def test_surge(policy, app, live_server, submit_key, make_queue, make_user, capsys):
    forget_alert_attempts()
    make_queue("surge", audit_rate=0.0, backlog_cap=CAP, sla_seconds=3600, overflow=policy,
               fallback_outcome="reject", fallback_reason="overflow", fallback_audit_rate=0.05,
               overflow_reviewers=["olga"], max_output_chars=200)
    for name in REVIEWERS:
        make_user(name, queues=("surge",))
    stop, decided = threading.Event(), Counter()
    workers = [threading.Thread(target=_reviewer, args=(app, n, stop, decided))
               for n in REVIEWERS]
    for worker in workers:
        worker.start()
    answers: Counter = Counter()
    first_overloaded = None
    headers = {"Authorization": f"Bearer {submit_key}"}
    started = time.monotonic()
    try:
        for start in range(0, TOTAL, BATCH):
            resp = requests.post(f"{live_server.url}/api/v1/items/batch", headers=headers,
                                 json={"items": [_payload(n) for n in range(start, start + BATCH)]},
                                 timeout=30)
            assert resp.status_code == 200, resp.text
            assert "Review-Backlog" in resp.headers
            body = resp.json()
            if body["backlog"]["surge"]["over_cap"] and first_overloaded is None:
                first_overloaded = time.time()
            for entry in body["results"]:
                key = entry["result"] if entry["result"] != "error" else entry["error"]["code"]
                answers[key if "overflow" not in entry else "fallback"] += 1
            time.sleep(0.3)  # 30 batches spread over ~15 s: "within a minute"
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=30)
    elapsed = time.monotonic() - started
    assert elapsed < 60
    with app.app_context():
        session = get_session()
        evaluate_alerts(session, alive=ALIVE)
        stored = session.scalar(select(func.count()).select_from(Item))
        refused = session.scalar(select(func.coalesce(func.sum(OverflowShed.items), 0)))
        by_route = Counter(dict(session.execute(
            select(Item.route_path, func.count()).group_by(Item.route_path)).all()))
        fallbacks = session.scalar(select(func.count()).select_from(Item)
                                   .where(Item.decided_by == "overflow"))
        human = session.scalar(select(func.count()).select_from(Item)
                               .where(Item.route_path == "human"))
        open_human = session.scalar(select(func.count()).select_from(Item)
                                    .where(Item.status.in_(("pending", "in_review"))))
        alerts = {a.kind: a for a in session.scalars(select(Alert))}
    # Nothing lost: every submitted item is stored or was refused with an audit row.
    assert stored + refused == TOTAL
    assert answers["created"] + answers["fallback"] + answers["queue_overloaded"] == TOTAL
    assert answers["queue_overloaded"] == refused
    assert answers["fallback"] == fallbacks
    if policy == "accept":
        assert refused == 0 and fallbacks == 0 and human == 1200
        assert "backlog_cap" in alerts  # the first evaluation (every 60 s) opens it
    else:
        assert refused + fallbacks > 0
        assert (refused if policy == "reject" else fallbacks) > 600
        # Humans get at most the cap, plus what is never shed (priority, validation).
        assert open_human <= CAP + 2 * TOTAL // 50
    if policy != "accept":
        overflow = alerts["overflow"]
        assert overflow.data["brought_in"] == ["olga"]
        assert first_overloaded is not None
        assert overflow.opened_at.replace(tzinfo=UTC).timestamp() - first_overloaded < 60
    assert sum(decided.values()) > 0
    with capsys.disabled():
        print(f"\nsurge {policy}: {elapsed:.1f} s; upstream got {dict(answers)}; stored "
              f"{stored} ({dict(by_route)}), refused {refused}, fallback {fallbacks}; "
              f"humans got {human}, decided {dict(decided)}, still open {open_human}; "
              f"alerts {sorted(alerts)}")
