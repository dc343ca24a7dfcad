"""Reviewer pages over the Flask test client, with CSRF on (the default):
claim and decide by form, every form refuses a missing CSRF token, and a
user who is not a member of a queue cannot see or decide its items."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from review.core.models import Item, ItemEvent, QueueMember, User
from tests.web.forms import PASSWORD, csrf, login


def token_of(browser, path: str = "/") -> str:
    return csrf(browser.get(path).get_data(as_text=True))


def lease_token(html: str) -> str:
    return re.search(r'name="lease_token" value="([^"]+)"', html).group(1)


def item_id_of(location: str) -> str:
    return re.search(r"/items/([^/?]+)$", location).group(1)


def inspect(app, fn):
    """Run `fn(session)` in its own app context. (The `db` fixture's context would be
    shared by every test-client request, and with it Flask-WTF's cached token in `g`.)"""
    from review.core.db import get_session

    with app.app_context():
        return fn(get_session())


def fresh_item(app, item_id: str) -> Item:
    return inspect(app, lambda s: s.get(Item, item_id))


@pytest.fixture
def items(client, auth, make_queue, make_user):
    make_queue("support", reject_reasons=["incorrect", "other"])
    make_queue("legal")
    make_user("ana", queues=("support",))
    make_user("olga", queues=("legal",))
    make_user("sue", "supervisor", queues=("support",))
    make_user("lee", "supervisor", queues=("legal",))
    ids = []
    for n in range(4):
        response = client.post("/api/v1/items", headers=auth, json={
            "queue": "support", "output": {"answer": n} if n % 2 == 0 else f"text {n}",
            "confidence": 0.1, "priority": 90 - n, "input": {"question": n},
            "context": ["first source", {"title": "Doc", "text": "second source"}],
            "model": {"name": "gpt-x", "version": "7"}, "prompt_version": "p3"})
        ids.append(response.get_json()["id"])
    return ids


def claim(browser, slug: str = "support") -> tuple[str, str]:
    """POST "Next item"; returns (item id, the review page html)."""
    response = browser.post(f"/queues/{slug}/next", data={"csrf_token": token_of(browser)})
    assert response.status_code == 302, response.get_data(as_text=True)
    item_id = item_id_of(response.headers["Location"])
    return item_id, browser.get(f"/items/{item_id}").get_data(as_text=True)


def test_review_page_shows_the_item_and_decides_by_form(app, items):
    ana = login(app, "ana")
    queue_page = ana.get("/queues/support").get_data(as_text=True)
    assert 'id="next-item"' in queue_page and "<kbd>n</kbd>" in queue_page
    item_id, html = claim(ana)
    assert item_id == items[0]
    for text in ("&#34;answer&#34;: 0", "first source", "second source", "gpt-x", "p3",
                 "confidence 0.1 &lt; review_below", 'id="sla-countdown"', "<kbd>a</kbd>",
                 "<kbd>r</kbd>", "<kbd>e</kbd>", "<kbd>s</kbd>", 'data-heartbeat-url',
                 "&#34;question&#34;: 0", "claimed"):
        assert text in html, text
    token = lease_token(html)
    response = ana.post(f"/items/{item_id}/decide", data={
        "csrf_token": csrf(html), "lease_token": token, "outcome": "approve"})
    assert response.status_code == 302
    assert item_id_of(response.headers["Location"]) == items[1]  # straight to the next
    assert fresh_item(app, item_id).status == "approved"
    # The decided item is still visible (read-only) to its queue's members.
    html = ana.get(f"/items/{item_id}").get_data(as_text=True)
    assert 'id="decision"' in html and 'id="approve"' not in html


def test_reject_needs_reason_and_edit_keeps_diff(app, items):
    ana = login(app, "ana")
    item_id, html = claim(ana)
    form = {"csrf_token": csrf(html), "lease_token": lease_token(html)}
    response = ana.post(f"/items/{item_id}/decide", data={**form, "outcome": "reject"})
    assert response.headers["Location"].endswith(f"/items/{item_id}")
    assert "needs a reason" in ana.get(f"/items/{item_id}").get_data(as_text=True)
    bad = ana.post(f"/items/{item_id}/decide", data={**form, "outcome": "edit",
                                                     "output": "{not json"})
    assert bad.headers["Location"].endswith(f"/items/{item_id}")
    assert fresh_item(app, item_id).status == "in_review"
    ok = ana.post(f"/items/{item_id}/decide", data={**form, "outcome": "edit",
                                                    "output": '{"answer": "fixed"}'})
    assert ok.status_code == 302
    item = fresh_item(app, item_id)
    assert (item.status, item.decision_outcome, item.decision_output) == \
        ("approved", "edit", {"answer": "fixed"})
    next_id = item_id_of(ok.headers["Location"])
    html = ana.get(f"/items/{next_id}").get_data(as_text=True)
    ana.post(f"/items/{next_id}/decide", data={
        "csrf_token": csrf(html), "lease_token": lease_token(html), "outcome": "reject",
        "reason": "other", "note": "off topic"})
    item = fresh_item(app, next_id)
    assert (item.status, item.decision_reason, item.decision_note) == \
        ("rejected", "other", "off topic")
    history = ana.get(f"/items/{item_id}").get_data(as_text=True)
    assert "+  &#34;answer&#34;: &#34;fixed&#34;" in history  # the diff, shown in history


def test_skip_escalate_and_heartbeat(app, items):
    ana = login(app, "ana")
    item_id, html = claim(ana)
    page_csrf, token = csrf(html), lease_token(html)
    beat = ana.post(f"/items/{item_id}/lease", data={"lease_token": token},
                    headers={"X-CSRFToken": page_csrf})
    assert beat.status_code == 200 and beat.get_json()["lease_expires_at"].endswith("Z")
    assert ana.post(f"/items/{item_id}/lease", data={"lease_token": token}).status_code == 400
    skipped = ana.post(f"/items/{item_id}/release", data={"csrf_token": page_csrf,
                                                          "lease_token": token})
    other = item_id_of(skipped.headers["Location"])
    assert other != item_id and fresh_item(app, item_id).status == "pending"
    lost = ana.post(f"/items/{item_id}/lease", data={"lease_token": token},
                    headers={"X-CSRFToken": page_csrf})
    assert lost.status_code == 409
    html = ana.get(f"/items/{other}").get_data(as_text=True)
    ana.post(f"/items/{other}/escalate", data={"csrf_token": csrf(html),
                                               "lease_token": lease_token(html)})
    assert fresh_item(app, other).escalated


def test_every_form_refuses_a_missing_csrf_token(app, items):
    """Every POST route outside the bearer-key API answers 400 without a token."""
    sue = login(app, "sue")
    item_id, html = claim(sue)
    samples = {"item_id": item_id, "slug": "support", "user_id": 1, "delivery_id": 1}
    checked = []
    for rule in app.url_map.iter_rules():
        if "POST" not in rule.methods or rule.rule.startswith("/api/"):
            continue
        path = rule.rule
        for name in rule.arguments:
            path = re.sub(rf"<(?:[^:>]+:)?{name}>", str(samples[name]), path)
        data = {"lease_token": lease_token(html), "outcome": "approve", "item": item_id,
                "action": "release", "name": "ana", "password": PASSWORD}
        response = sue.post(path, data=data)
        assert response.status_code == 400, (path, response.status_code)
        assert "CSRF" in response.get_data(as_text=True), path
        checked.append(rule.endpoint)
    assert {"queue.decide", "queue.next_item", "queue.release_item", "queue.escalate_item",
            "queue.heartbeat", "queue.manage_items", "queue.assign_item", "queue.add_member",
            "queue.drop_member", "auth.login", "auth.logout"} <= set(checked)
    item = fresh_item(app, item_id)
    assert (item.status, item.assigned_to) == ("in_review", None)  # nothing happened
    assert sue.get("/queues/support").status_code == 200  # still logged in


def test_non_member_cannot_see_or_decide_by_direct_url(app, items):
    ana = login(app, "ana")
    item_id, html = claim(ana)
    token = lease_token(html)
    for name in ("olga", "lee"):  # a reviewer and a supervisor of another queue
        other = login(app, name)
        form = {"csrf_token": token_of(other)}
        assert other.get("/queues/support").status_code == 403
        assert other.get(f"/items/{item_id}").status_code == 404
        assert other.get(f"/items/{items[1]}").status_code == 404
        assert other.post("/queues/support/next", data=form).status_code == 403
        assert other.get("/queues/support/manage").status_code == 404
        for path, extra in (("decide", {"outcome": "approve"}), ("release", {}),
                            ("escalate", {}), ("assign", {"reviewer": name})):
            response = other.post(f"/items/{item_id}/{path}",
                                  data={**form, "lease_token": token, **extra})
            assert response.status_code == 404, path
        beat = other.post(f"/items/{item_id}/lease", data={"lease_token": token},
                          headers={"X-CSRFToken": form["csrf_token"]})
        assert beat.status_code == 404
        assert other.post("/queues/support/manage/items", data={
            **form, "action": "release", "item": item_id}).status_code == 404
    item = fresh_item(app, item_id)
    assert (item.status, item.lease_token, item.decided_at) == ("in_review", token, None)
    assert ana.get("/queues/support/manage").status_code == 404  # reviewers do not manage


def test_supervisor_bulk_release_reassign_and_membership(app, items):
    ana = login(app, "ana")
    held, _ = claim(ana)
    sue = login(app, "sue")
    page = sue.get("/queues/support/manage").get_data(as_text=True)
    assert held in page and 'id="bulk-release"' in page
    form = {"csrf_token": csrf(page)}
    sue.post("/queues/support/manage/items", data={**form, "action": "release",
                                                   "item": [held, items[2]]})
    assert fresh_item(app, held).status == "pending"
    sue.post("/queues/support/manage/items", data={**form, "action": "reassign",
                                                   "reviewer": "ana", "item": items[2:]})
    ana_id = inspect(app, lambda s: s.scalar(select(User.id).where(User.name == "ana")))
    assert {fresh_item(app, i).assigned_to for i in items[2:]} == {ana_id}
    sue.post(f"/items/{items[0]}/assign", data={**form, "reviewer": "sue"})
    assert fresh_item(app, items[0]).assigned_to != ana_id
    events = inspect(app, lambda s: s.scalars(
        select(ItemEvent.kind).where(ItemEvent.item_id == held)).all())
    assert "released" in events
    sue.post("/queues/support/manage/members", data={**form, "name": "olga",
                                                     "tags": "de, legal"})
    olga_id = inspect(app, lambda s: s.scalar(select(User.id).where(User.name == "olga")))
    queue_id = fresh_item(app, held).queue_id
    assert inspect(app, lambda s: s.get(QueueMember, (queue_id, olga_id)).tags) == \
        ["de", "legal"]
    assert login(app, "olga").get("/queues/support").status_code == 200
    sue.post(f"/queues/support/manage/members/{olga_id}/remove", data=form)
    assert login(app, "olga").get("/queues/support").status_code == 403
    sue.post(f"/queues/support/manage/members/{ana_id}/remove", data=form)
    assert {fresh_item(app, i).assigned_to for i in items[2:]} == {None}  # free for others


def test_pages_carry_the_strict_csp(app, items):
    ana = login(app, "ana")
    item_id, _ = claim(ana)
    response = ana.get(f"/items/{item_id}")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    html = response.get_data(as_text=True)
    assert "<script>" not in html and "style=" not in html
    assert ana.get("/static/review.js").status_code == 200


@pytest.mark.parametrize("body", ['{"lease_token": "\\ud800"}', '{"lease_token": "a\\u0000"}',
                                  '{"lease_token": 1e999}', "[" * 40 + "]" * 40])
def test_heartbeat_refuses_hostile_json_with_a_json_error(app, items, body):
    ana = login(app, "ana")
    item_id, html = claim(ana)
    answer = ana.post(f"/items/{item_id}/lease", data=body,
                      headers={"X-CSRFToken": csrf(html), "Content-Type": "application/json"})
    assert answer.status_code == 400, answer.get_data(as_text=True)
    assert answer.get_json()["error"]["code"] in {"invalid_characters", "invalid_json",
                                                  "too_deep"}
    assert fresh_item(app, item_id).status == "in_review"  # the lease is untouched
