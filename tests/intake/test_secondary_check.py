"""The secondary check end to end: ingest → RQ job → checker → decision or human.

A real local HTTP checker (tests/conftest.py `http_receiver`), a real RQ
worker in burst mode (`rq_worker`), the real database.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from review.core.models import Item, ItemEvent
from review.core.settings import settings
from review.intake.checks import SECRET_HEADER

AMBIGUOUS = 0.75  # between review_below 0.6 and auto_approve_at 0.9: routed to `checking`


def submit(client, auth, **fields):
    body = {"queue": "checked", "output": "Your order ships Monday.", "confidence": AMBIGUOUS,
            "input": "When does my order ship?", "model": {"name": "m", "version": "1"}}
    body.update(fields)
    resp = client.post("/api/v1/items", json=body, headers=auth)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def load(db, item_id: str) -> Item:
    db.rollback()
    return db.get(Item, item_id, populate_existing=True)


def events(db, item_id: str, kind: str) -> list[ItemEvent]:
    db.rollback()
    return list(db.scalars(select(ItemEvent).where(ItemEvent.item_id == item_id,
                                                   ItemEvent.kind == kind)))


def http_queue(make_queue, url: str, **checker):
    config = {"type": "http", "url": url, "secret": "judge-secret", "timeout": 2, "retries": 0}
    config.update(checker)
    return make_queue("checked", audit_rate=0.0, sla_seconds=600, checker=config)


def judge(answer, status: int = 200):
    return lambda _request: (status, answer)


def test_http_pass_is_approved_by_the_checker(client, auth, db, make_queue, http_receiver,
                                              rq_worker):
    checker = http_receiver(judge({"verdict": "pass", "score": 0.93, "reason": "grounded"}))
    http_queue(make_queue, checker.url)
    item = submit(client, auth, context=["Orders ship on Monday."])
    assert item["status"] == "checking"

    rq_worker()

    stored = load(db, item["id"])
    assert stored.status == "approved"
    assert (stored.decided_by, stored.decided_by_kind, stored.decision_outcome) == \
        ("checker", "checker", "approve")
    assert (stored.check_checker, stored.check_verdict, stored.check_score) == \
        ("http", "pass", 0.93)
    assert stored.check_reason == "grounded"
    assert stored.check_latency_ms is not None and stored.checked_at is not None
    assert stored.check_attempts == 1
    assert len(events(db, item["id"], "checked")) == 1
    assert len(events(db, item["id"], "decided")) == 1
    # The judge got the item and the shared secret.
    [request] = checker.requests
    assert request.headers[SECRET_HEADER] == "judge-secret"
    sent = request.json()
    assert sent["item_id"] == item["id"]
    assert sent["output"] == "Your order ships Monday."
    assert sent["context"] == ["Orders ship on Monday."]
    assert sent["confidence"] == AMBIGUOUS
    # The poll API shows the check to the submitter (and to reviewers).
    polled = client.get(f"/api/v1/items/{item['id']}", headers=auth).get_json()
    assert polled["check"]["verdict"] == "pass"
    assert polled["decision"]["decided_by"] == "checker"


def test_http_fail_goes_to_a_human_with_reason_and_raised_priority(
        client, auth, db, make_queue, http_receiver, rq_worker):
    checker = http_receiver(judge({"verdict": "fail", "score": 0.1,
                                   "reason": "claims a date the sources do not give"}))
    http_queue(make_queue, checker.url)
    item = submit(client, auth, priority=50)

    rq_worker()

    stored = load(db, item["id"])
    assert stored.status == "pending"
    assert stored.decided_at is None
    assert stored.priority == 65  # routing.CHECK_FAIL_PRIORITY_BOOST
    assert stored.due_at == stored.created_at + timedelta(seconds=600)
    assert stored.check_verdict == "fail"
    assert any("claims a date" in r for r in stored.route_reasons)
    [checked] = events(db, item["id"], "checked")
    assert checked.data["verdict"] == "fail" and checked.data["next"] == "human"
    assert events(db, item["id"], "decided") == []


@pytest.mark.parametrize("answer, status, verdict, reason_part", [
    ({"verdict": "unsure", "score": 0.5, "reason": "cannot tell"}, 200, "unsure", "cannot tell"),
    ("definitely fine", 200, "error", "not JSON"),
    ({"verdict": "pass", "score": 7}, 200, "error", "score"),
    ({"verdict": "maybe"}, 200, "error", "verdict"),
    ({"error": "boom"}, 500, "error", "HTTP 500"),
    ({"verdict": "pass"}, 404, "error", "HTTP 404"),
])
def test_problems_fail_safe_to_a_human(client, auth, db, make_queue, http_receiver, rq_worker,
                                       answer, status, verdict, reason_part):
    checker = http_receiver(judge(answer, status))
    http_queue(make_queue, checker.url)
    item = submit(client, auth, priority=50)

    rq_worker()

    stored = load(db, item["id"])
    assert stored.status == "pending", "a check problem must never approve"
    assert stored.check_verdict == verdict
    assert reason_part in stored.check_reason
    assert stored.priority == 50  # only a clear fail jumps the queue
    assert stored.due_at is not None
    assert events(db, item["id"], "decided") == []


def test_checker_timeout_goes_to_a_human(client, auth, db, make_queue, http_receiver,
                                         rq_worker):
    def hang(_request):
        checker.release.wait(30)  # longer than the checker's timeout
        return 200, {"verdict": "pass"}

    checker = http_receiver(hang)
    http_queue(make_queue, checker.url, timeout=0.5, retries=1, backoff=0)
    item = submit(client, auth)

    rq_worker()

    stored = load(db, item["id"])
    assert stored.status == "pending"
    assert stored.check_verdict == "error"
    assert "timed out" in stored.check_reason
    assert len(checker.requests) == 2  # the one retry the config allows


def test_unreachable_checker_goes_to_a_human(client, auth, db, make_queue, rq_worker):
    from tests.conftest import free_port

    http_queue(make_queue, f"http://127.0.0.1:{free_port()}/judge", backoff=0)
    item = submit(client, auth)

    rq_worker()

    stored = load(db, item["id"])
    assert stored.status == "pending"
    assert "Connection refused" in stored.check_reason


@pytest.mark.parametrize("checker, context, output, status, verdict", [
    ({"type": "grounding"}, ["Orders ship on Monday from our Berlin warehouse."],
     "Orders ship on Monday from our Berlin warehouse.", "approved", "pass"),
    ({"type": "grounding"}, ["Orders ship on Monday from our Berlin warehouse."],
     "Refunds of 500 euros arrive by courier pigeon within 3 hours.", "pending", "fail"),
    ({"type": "policy", "blocked_phrases": ["pigeon"]}, [],
     "Refunds arrive by pigeon.", "pending", "fail"),
])
def test_builtin_checkers_end_to_end(client, auth, db, make_queue, rq_worker, checker, context,
                                     output, status, verdict):
    make_queue("checked", audit_rate=0.0, checker=checker)
    item = submit(client, auth, context=context, output=output)

    rq_worker()

    stored = load(db, item["id"])
    assert (stored.status, stored.check_verdict, stored.check_checker) == \
        (status, verdict, checker["type"])


def test_a_second_run_decides_nothing_twice(app, client, auth, db, make_queue, http_receiver):
    from review.intake.secondary_check import run_item_check

    checker = http_receiver(judge({"verdict": "pass"}))
    http_queue(make_queue, checker.url)
    item = submit(client, auth)
    with app.app_context():
        from review.core.db import get_session

        assert run_item_check(get_session(), item["id"]) == "approved"
    with app.app_context():
        assert run_item_check(get_session(), item["id"]) == "skipped"
    assert len(checker.requests) == 1
    assert len(events(db, item["id"], "decided")) == 1


def test_concurrent_runs_decide_once(app, client, auth, db, make_queue, http_receiver):
    """Two workers checking the same item at the same moment: one decision."""
    from review.core.db import get_session
    from review.intake.secondary_check import run_item_check

    both_asked = threading.Barrier(2, timeout=20)

    def answer(_request):
        both_asked.wait()  # neither answer comes back before both runs asked
        return 200, {"verdict": "pass"}

    checker = http_receiver(answer)
    http_queue(make_queue, checker.url, timeout=25)
    item = submit(client, auth)
    outcomes: list[str] = []

    def run() -> None:
        with app.app_context():
            outcomes.append(run_item_check(get_session(), item["id"]))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes) == ["approved", "skipped"]
    assert len(events(db, item["id"], "checked")) == 1
    assert len(events(db, item["id"], "decided")) == 1
    assert load(db, item["id"]).check_attempts == 2


def test_a_check_that_never_finishes_ends_with_a_human(app, client, auth, db, make_queue,
                                                       http_receiver):
    """After MAX_CHECK_ATTEMPTS runs that died mid-check, the next run gives up safely."""
    from review.core.db import get_session
    from review.intake.secondary_check import run_item_check

    checker = http_receiver(judge({"verdict": "pass"}))
    http_queue(make_queue, checker.url)
    item = submit(client, auth)
    stored = load(db, item["id"])
    stored.check_attempts = settings(app).MAX_CHECK_ATTEMPTS
    db.commit()
    with app.app_context():
        assert run_item_check(get_session(), item["id"]) == "pending"
    stored = load(db, item["id"])
    assert stored.check_verdict == "error"
    assert "did not finish" in stored.check_reason
    assert checker.requests == []


def test_queue_without_checker_any_more_goes_to_a_human(app, client, auth, db, make_queue):
    from review.core.db import get_session
    from review.intake.secondary_check import run_item_check

    queue = make_queue("checked", audit_rate=0.0, checker={"type": "grounding"})
    item = submit(client, auth)
    db.rollback()
    db.get(type(queue), queue.id).checker = None
    db.commit()
    with app.app_context():
        assert run_item_check(get_session(), item["id"]) == "pending"
    assert "no checker" in load(db, item["id"]).check_reason


def test_only_items_in_checking_are_checked(app, client, auth, db, make_queue):
    from review.core.db import get_session
    from review.intake.secondary_check import run_item_check

    make_queue("checked", audit_rate=0.0, checker={"type": "grounding"})
    item = submit(client, auth, confidence=0.2)  # straight to a human
    with app.app_context():
        assert run_item_check(get_session(), item["id"]) == "skipped"
        assert run_item_check(get_session(), "no-such-item") == "skipped"
    db.rollback()
    assert db.scalar(select(func.count()).select_from(ItemEvent).where(
        ItemEvent.kind == "checked")) == 0
