"""Cost (issue 18): the report's figures equal the sums of the recorded usage and review
time; checkers record their own usage; the daily checker budget switches the checker off
at 100 % (alert at 80 %) until a supervisor raises it."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest
from sqlalchemy import insert, select

from review.alerts.rules import evaluate_alerts
from review.core.clock import utcnow
from review.core.db import get_session
from review.core.liveness import Liveness
from review.core.models import Alert, Item, ItemEvent, Review
from review.core.queues import apply_policy, validate_policy
from review.ops.metrics import render_metrics
from review.reports.cost import cost_report
from review.reports.sla_report import DateRange

ALIVE = Liveness(redis_ok=True, workers_alive=1, newest_worker_age=1.0, scheduler_age=1.0)


def _generate(session, queues, users, now):
    rng = random.Random(18)
    items, reviews = [], []
    for n in range(400):
        queue = rng.choice(queues)
        created = now - timedelta(days=rng.randrange(3), minutes=rng.randrange(1, 600))
        route = rng.choice(("auto", "check", "human"))
        item = {"id": f"c{n:05d}", "queue_id": queue.id, "submitter": "up",
                "body_hash": "h", "status": "approved", "route_path": route,
                "confidence": 0.5, "created_at": created, "priority": 50,
                "model_name": "gpt", "model_version": rng.choice(("1", "2", None)),
                "decided_at": created + timedelta(minutes=5), "decision_outcome": "approve",
                "audit_sampled": route == "human" and rng.random() < 0.3,
                "decided_by_kind": {"auto": "router", "check": "checker",
                                    "human": "reviewer"}[route],
                "usage_input_tokens": rng.randrange(0, 3000) if rng.random() < 0.8 else None,
                "usage_output_tokens": rng.randrange(0, 800),
                "usage_cost": round(rng.random() / 100, 6) if rng.random() < 0.9 else None}
        if item["audit_sampled"] and rng.random() < 0.25:
            item["decision_outcome"], item["status"] = "reject", "rejected"
        if route == "check":
            item.update(check_input_tokens=rng.randrange(100, 900), check_output_tokens=20,
                        check_cost=round(rng.random() / 1000, 7), checked_at=created)
        if route == "human":
            claimed = created + timedelta(seconds=rng.randrange(0, 300))
            reviews.append({"item_id": item["id"], "queue_id": queue.id,
                            "reviewer_id": rng.choice(users).id, "outcome": "approve",
                            "claimed_at": claimed,
                            "created_at": claimed + timedelta(seconds=rng.randrange(5, 400))})
        items.append(item)
    session.execute(insert(Item), items)
    session.execute(insert(Review), reviews)
    session.commit()
    return items, reviews


def test_report_figures_equal_the_recorded_sums(app, make_queue, make_user):
    rated = make_queue("rated", human_hourly_rate=36.0)
    free = make_queue("free")
    users = [make_user("ann", queues=("rated", "free")), make_user("bob", queues=("rated",))]
    now = utcnow().replace(hour=12)
    with app.app_context():
        session = get_session()
        items, reviews = _generate(session, [rated, free], users, now)
        span = DateRange(now.date() - timedelta(days=3), now.date())
        report = cost_report(session, [rated, free], span)
        metrics = render_metrics(session, now + timedelta(minutes=1)).decode()
    seconds = {r["item_id"]: (r["created_at"] - r["claimed_at"]).total_seconds() for r in reviews}
    for slug, queue, rate in (("rated", rated, 36.0), ("free", free, 0.0)):
        mine = [i for i in items if i["queue_id"] == queue.id]
        total = report["queues"][slug]
        assert total["items"] == len(mine)
        assert total["cost"]["model"] == pytest.approx(sum(i["usage_cost"] or 0 for i in mine))
        assert total["cost"]["check"] == pytest.approx(sum(i.get("check_cost") or 0
                                                           for i in mine))
        assert total["tokens"]["model_input"] == sum(i["usage_input_tokens"] or 0 for i in mine)
        assert total["tokens"]["check_input"] == sum(i.get("check_input_tokens") or 0
                                                     for i in mine)
        human = sum(seconds.get(i["id"], 0) for i in mine)
        assert total["review_seconds"] == pytest.approx(human, abs=0.01)
        assert total["cost"]["human"] == pytest.approx(human / 3600 * rate, abs=1e-4)
        audited = [i for i in mine if i["audit_sampled"]]
        wrong = sum(i["decision_outcome"] != "approve" for i in audited)
        error = wrong / len(audited)
        assert total["machine_error_rate"]["rate"] == pytest.approx(error)
        machine = sum(i["route_path"] != "human" for i in mine)
        correct = len(mine) - machine + machine * (1 - error)
        assert total["correct_decisions"] == pytest.approx(correct)
        assert total["cost_per_correct_decision"] == pytest.approx(total["cost"]["total"]
                                                                   / correct)
    days = {r["day"] for r in report["rows"]}
    assert days <= {(now.date() - timedelta(days=d)).isoformat() for d in range(3)}
    assert {r["route"] for r in report["rows"]} == {"auto", "check", "human"}
    in_day = [r for r in report["rows"] if r["queue"] == "rated"]
    assert sum(r["cost"]["model"] for r in in_day) == pytest.approx(
        report["queues"]["rated"]["cost"]["model"])
    assert report["total"]["cost"]["total"] == pytest.approx(
        sum(q["cost"]["total"] for q in report["queues"].values()))
    assert 'review_cost_24h{queue="rated",source="model"}' in metrics


def test_cost_api_and_cli(app, client, make_key, make_queue):
    make_queue("rated", human_hourly_rate=10.0)
    key = make_key("boss", "admin")
    resp = client.get("/api/v1/reports/cost?queue=rated",
                      headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 200 and resp.get_json()["rows"] == []
    bad = client.get("/api/v1/reports/cost?from=2026-13-01",
                     headers={"Authorization": f"Bearer {key}"})
    assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "bad_date"
    from review.cli import main

    result = app.test_cli_runner().invoke(main, ["reports", "cost", "--queue", "rated"])
    assert result.exit_code == 0, result.output
    assert "per correct" in result.output


def _checked_item(client, auth, n):
    resp = client.post("/api/v1/items", headers=auth, json={
        "queue": "judged", "output": f"answer {n}", "confidence": 0.75,
        "context": ["a source"], "usage": {"input_tokens": 100, "output_tokens": 10,
                                           "cost": 0.01}})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def test_checker_usage_and_the_budget_switch(app, client, auth, make_queue, http_receiver):
    from review.intake.secondary_check import run_item_check

    judge = http_receiver(lambda _r: (200, {"verdict": "fail", "reason": "no", "usage": {
        "input_tokens": 500, "output_tokens": 30, "cost": 0.2}}))
    checker = {"type": "http", "url": judge.url, "timeout": 2, "retries": 0}
    policy = {"audit_rate": 0.0, "checker": checker, "checker_daily_budget": 1.0}
    make_queue("judged", **policy)
    statuses = []
    for n in range(6):
        item = _checked_item(client, auth, n)
        statuses.append(item["status"])
        if item["status"] == "checking":
            with app.app_context():
                assert run_item_check(get_session(), item["id"]) == "pending"
        if n == 3:  # four checks: 0.8 of the budget spent, the alert opens
            with app.app_context():
                evaluate_alerts(get_session(), alive=ALIVE)
                alert = get_session().scalars(
                    select(Alert).where(Alert.kind == "checker_budget")).one()
                assert "80%" in alert.message
    assert statuses == ["checking"] * 5 + ["pending"]
    with app.app_context():
        session = get_session()
        item = session.get(Item, item["id"])
        assert item.route_path == "human"
        assert item.route_reasons[-1].startswith("checker budget exhausted: spent 1 of the")
        kinds = set(session.scalars(select(ItemEvent.kind).where(ItemEvent.item_id == item.id)))
        assert "checker_skipped" in kinds
        checked = session.scalars(select(Item).where(Item.check_cost.is_not(None))).all()
        assert len(checked) == 5
        assert {(i.check_input_tokens, i.check_output_tokens, i.check_cost)
                for i in checked} == {(500, 30, 0.2)}
        assert sum(i.usage_cost for i in session.scalars(select(Item))) == pytest.approx(0.06)
        # A supervisor raises the budget: the checker is back for the next item.
        apply_policy(session, "judged", validate_policy("judged", {
            **policy, "checker_daily_budget": 2.0}), actor="boss")
        session.commit()
    assert _checked_item(client, auth, 7)["status"] == "checking"
    with app.app_context():
        report = cost_report(get_session(), [get_session().get(Item, item.id).queue],
                             DateRange(date.today() - timedelta(days=1),
                                       utcnow().date()))
        assert report["queues"]["judged"]["cost"]["check"] == pytest.approx(1.0)
        assert report["queues"]["judged"]["cost"]["model"] == pytest.approx(0.07)
