"""Issue 15 item 6: a checker's fallback answers when it errors, and a judge that keeps
failing is skipped for a cool-down; both recorded on the result (and so on the item)."""

from __future__ import annotations

from review.intake.checks import CheckInput, run_checker
from review.intake.checks.fallback import MemoryHealth

ITEM = CheckInput(item_id="f1", output="Orders ship on Monday.",
                  context=["Orders ship on Monday from Berlin."], confidence=0.95)


def config(url: str) -> dict:
    return {"type": "http", "url": url, "timeout": 1, "retries": 0,
            "failure_threshold": 2, "cooldown_seconds": 60,
            "fallback": {"type": "grounding"}}


def test_the_fallback_answers_when_the_judge_errors(judge):
    url = judge.respond("/judge", (500, {"oops": True}))
    result = run_checker(config(url), ITEM, health=MemoryHealth())
    assert result.verdict == "pass" and result.checker == "http>grounding"
    assert result.reason.startswith("http error: HTTP 500")


def test_a_healthy_judge_is_used_and_no_fallback_runs(judge):
    url = judge.respond("/judge", {"verdict": "fail", "reason": "invented"})
    result = run_checker(config(url), ITEM, health=MemoryHealth())
    assert (result.checker, result.verdict) == ("http", "fail")


def test_a_failing_judge_is_skipped_for_its_cool_down(judge):
    url = judge.respond("/judge", (503, b"down"))
    health = MemoryHealth()
    for _ in range(2):
        run_checker(config(url), ITEM, health=health)
    assert judge.hits("/judge") == 2
    result = run_checker(config(url), ITEM, health=health)
    assert judge.hits("/judge") == 2  # not called while cooling down
    assert result.checker == "skipped>grounding" and "cooling down" in result.reason
    assert result.verdict == "pass"


def test_without_a_fallback_an_error_stays_an_error(judge):
    url = judge.respond("/judge", (500, b"x"))
    result = run_checker({"type": "http", "url": url, "timeout": 1, "retries": 0}, ITEM)
    assert result.verdict == "error"


def test_bad_chain_options_are_an_error_verdict():
    result = run_checker({"type": "grounding", "failure_threshold": 0,
                          "fallback": {"type": "grounding"}}, ITEM)
    assert result.verdict == "error" and "failure_threshold" in result.reason


def test_the_worker_records_the_fallback_on_the_item(client, auth, db, make_queue, rq_worker,
                                                     judge):
    from review.core.models import Item

    url = judge.respond("/judge", (500, b"x"))
    make_queue("fallback", audit_rate=0.0, checker=config(url))
    resp = client.post("/api/v1/items", headers=auth, json={
        "queue": "fallback", "output": ITEM.output, "context": ITEM.context,
        "confidence": 0.95, "model": {"name": "m", "version": "1"}})
    assert resp.status_code == 201 and resp.get_json()["status"] == "checking"
    rq_worker()
    db.rollback()
    item = db.get(Item, resp.get_json()["id"])
    assert item.status == "approved" and item.check_checker == "http>grounding"
    assert "http error" in item.check_reason
