"""The "Adaptive routing" section of a queue's manage page, with CSRF on: what it shows
after a real learning pass, the stage form, the breaker reset, and who may use them."""

from __future__ import annotations

import re

import pytest

from tests.adaptive_data import learn, policy_changes, queue_named, seed_decisions, trip_breaker
from tests.web.forms import csrf, login


@pytest.fixture
def queues(make_queue, make_user):
    make_queue("support", max_error_rate=0.02)
    make_queue("plain", auto_approve_at=0.85)
    make_queue("elsewhere", max_error_rate=0.02)
    make_user("sue", "supervisor", queues=("support", "plain"))
    make_user("ana", "reviewer", queues=("support",))


def section(html: str) -> str:
    found = re.search(r'<section class="card facts" id="adaptive">(.*?)</section>', html, re.S)
    assert found, "the page has the adaptive routing section"
    return found.group(1)


def test_section_shows_target_stage_breaker_and_versions(app, queues):
    seed_decisions(app, "support", 200, model_version="v1", prompt_version="p1")
    seed_decisions(app, "support", 4, model_version="v2", prompt_version=None)
    learn(app, "support")
    sue = login(app, "sue")
    html = section(sue.get("/queues/support/manage").get_data(as_text=True))
    assert "0.02 at 95.0% confidence" in html
    assert re.search(r'id="rollout-stage">shadow', html)
    assert re.search(r'id="breaker-state">closed', html)
    assert 'id="breaker-form"' not in html  # nothing to reset while closed
    assert re.search(r'<option value="shadow" selected>shadow</option>', html)
    rows = dict(re.findall(r'<tr data-version="([^"]*)">(.*?)</tr>', html, re.S))
    learned = re.findall(r'<td class="num">([^<]*)</td>', rows["v1|p1"])
    threshold = float(learned[0])
    assert 0.5 <= threshold <= 0.99 and learned[1:3] == ["200", "0"]
    assert 0 < float(learned[3]) <= 0.02
    assert "none yet — shadow" in rows["v2|"] and "(none)" in rows["v2|"]
    history = re.search(r'<table class="grid" id="routing-history">(.*?)</table>', html, re.S)
    assert history and f"learned_threshold none → {threshold}" in history.group(1)
    assert "<td>learner</td>" in history.group(1)


def test_fixed_queue_gets_a_one_line_note(app, queues):
    sue = login(app, "sue")
    html = section(sue.get("/queues/plain/manage").get_data(as_text=True))
    assert "fixed <code>auto_approve_at</code> of 0.85" in html
    assert "stage-form" not in html and "versions" not in html


def test_stage_form_sets_the_stage_and_audits_it(app, queues):
    sue = login(app, "sue")
    token = csrf(sue.get("/queues/support/manage").get_data(as_text=True))
    resp = sue.post("/queues/support/manage/rollout",
                    data={"csrf_token": token, "stage": "10%", "note": "first step"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(
        "/queues/support/manage")
    assert queue_named(app, "support").rollout_stage == "10%"
    last = policy_changes(app, "support")[-1]
    assert (last.changed_by, last.changes) == \
        ("sue", {"rollout_stage": ["shadow", "10%"], "reason": "first step"})
    page = sue.get("/queues/support/manage").get_data(as_text=True)
    assert "Rollout stage set to 10%." in page
    assert re.search(r'id="rollout-stage">10%', section(page))

    before = len(policy_changes(app, "support"))
    resp = sue.post("/queues/support/manage/rollout", data={"csrf_token": token, "stage": "33%"},
                    follow_redirects=True)
    assert "unknown rollout stage" in resp.get_data(as_text=True)
    assert queue_named(app, "support").rollout_stage == "10%"
    assert len(policy_changes(app, "support")) == before


def test_breaker_reset_form_only_when_open(app, queues):
    trip_breaker(app, "support")
    sue = login(app, "sue")
    html = sue.get("/queues/support/manage").get_data(as_text=True)
    part = section(html)
    assert "open: every item goes to humans" in part and "tripped:" in part
    assert 'id="breaker-reset"' in part
    resp = sue.post("/queues/support/manage/breaker/reset",
                    data={"csrf_token": csrf(html), "note": "provider fixed it"},
                    follow_redirects=True)
    page = resp.get_data(as_text=True)
    assert "Circuit breaker reset" in page and 'id="breaker-form"' not in page
    queue = queue_named(app, "support")
    assert queue.breaker_open is False
    assert queue.breaker_reason == "reset by sue: provider fixed it"
    assert policy_changes(app, "support")[-1].changed_by == "sue"
    again = sue.post("/queues/support/manage/breaker/reset", data={"csrf_token": csrf(html)},
                     follow_redirects=True)
    assert "The circuit breaker is not open." in again.get_data(as_text=True)


def test_forms_need_csrf_and_a_supervisor_of_the_queue(app, queues):
    sue = login(app, "sue")
    token = csrf(sue.get("/queues/support/manage").get_data(as_text=True))
    resp = sue.post("/queues/support/manage/rollout", data={"stage": "100%"})
    assert resp.status_code == 400 and "CSRF" in resp.get_data(as_text=True)
    assert sue.post("/queues/support/manage/breaker/reset", data={}).status_code == 400
    # Not a queue she supervises: 404, nothing changes.
    assert sue.post("/queues/elsewhere/manage/rollout",
                    data={"csrf_token": token, "stage": "100%"}).status_code == 404
    assert sue.get("/queues/elsewhere/manage").status_code == 404
    ana = login(app, "ana")
    ana_token = csrf(ana.get("/queues/support").get_data(as_text=True))
    assert ana.post("/queues/support/manage/rollout",
                    data={"csrf_token": ana_token, "stage": "100%"}).status_code == 404
    assert queue_named(app, "support").rollout_stage == "shadow"
    assert queue_named(app, "elsewhere").rollout_stage == "shadow"
