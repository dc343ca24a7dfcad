"""The manage page as a data manager, in Chromium at 1366 and 390 px: an items table
(output snippet, confidence, age, SLA state, route) with filters, sorting and paging;
tabs for Items, Members, Policy and Adaptive routing; a supervisor takes one specific
item; the bulk bar says what it does; risky changes ask first (member removal, a
rollout past shadow with no learned threshold)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import insert, select

from review.core.clock import utcnow
from review.core.models import Item, Queue, QueueMember, User
from tests.browser.harness import HAS_CHROMIUM, check_widths, login

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not HAS_CHROMIUM, reason="needs /usr/bin/chromium"),
]


@pytest.fixture
def queue(app, db, make_queue, make_user):
    queue = make_queue("support", sla_seconds=3600, max_error_rate=0.02)
    make_user("rita", "reviewer", queues=("support",))
    make_user("olga", "reviewer", queues=("support",))
    make_user("sue", "supervisor", queues=("support",))
    now = utcnow()
    rows = []
    for n in range(64):
        state = ("breached", "at_risk", "ok", "ok")[n % 4]
        created = now - timedelta(minutes=10 + n)
        due = now - timedelta(minutes=5) if state == "breached" else now + timedelta(
            minutes=5 if state == "at_risk" else 50)
        rows.append(dict(
            id=f"it{n:04d}", queue_id=queue.id, submitter="up", body_hash="0",
            external_id=f"ticket-{n}", status="pending", route_path="human",
            route_reasons=[], confidence=round(0.1 + n / 100, 2), created_at=created,
            due_at=due, sla_state=state, priority=50,
            output={"answer": f"Refund approved for order {n} " + "word " * 40},
            context=[], meta={}))
    db.execute(insert(Item), rows)
    db.commit()
    return db.get(Queue, queue.id)


def test_items_table_filters_sorts_pages_and_takes(app, live_server, db, queue, page):
    login(page, live_server.url, "sue")
    page.goto(f"{live_server.url}/queues/support/manage")
    assert page.locator("#tab-items").get_attribute("aria-current") == "page"
    assert page.inner_text("#items-count") == "64 items; page 1 of 2."
    rows = page.locator("#open-items tbody tr")
    assert rows.count() == 50
    first = rows.first
    assert "Refund approved for order" in first.locator("td.snippet").inner_text()
    assert first.locator("td.snippet").inner_text().endswith("…")
    assert first.locator("meter").count() == 1
    assert first.locator("a.item-id").get_attribute("href").startswith("/items/it")
    # The bulk bar says what each button does (no "Release selected to (anyone)").
    bar = page.inner_text(".bulk-bar")
    assert "Release selected back to the queue" in bar and "(anyone)" not in bar
    assert page.locator("#bulk-reviewer option").first.inner_text() == \
        "nobody (clear the assignment)"
    check_widths(page, "manage-items")

    page.click("#page-next")
    page.wait_for_selector("#page-prev")
    assert page.inner_text("#items-count") == "64 items; page 2 of 2."
    assert page.locator("#open-items tbody tr").count() == 14

    # Filter at-risk items, least confident first.
    page.select_option("#filter-sla", "at_risk")
    page.select_option("#filter-sort", "confidence")
    page.click("#filter-apply")
    page.wait_for_url("**sla=at_risk**")
    assert page.inner_text("#items-count") == "16 items."
    confidences = page.eval_on_selector_all(
        "#open-items tbody tr meter", "ms => ms.map(m => Number(m.value))")
    assert confidences == sorted(confidences) and len(confidences) == 16
    assert set(page.eval_on_selector_all("#open-items tbody tr",
                                         "rs => rs.map(r => r.dataset.sla)")) == {"at_risk"}
    page.fill("#filter-q", "ticket-13")
    page.click("#filter-apply")
    page.wait_for_url("**q=ticket-13**")
    assert page.locator("#open-items tbody tr").count() == 1
    check_widths(page, "manage-items-filtered")

    # Take that one item: it is the supervisor's to decide now.
    page.set_viewport_size({"width": 1366, "height": 900})
    page.click("#open-items tbody tr button.take")
    page.wait_for_url("**/items/it0013")
    db.expire_all()
    taken = db.get(Item, "it0013")
    assert taken.status == "in_review" and taken.claimed_by is not None


def test_tabs_policy_members_and_confirmations(app, live_server, db, queue, page):
    login(page, live_server.url, "sue")
    page.goto(f"{live_server.url}/queues/support/manage")
    page.click("#tab-policy")
    page.wait_for_selector("#policy-tab", state="visible")
    assert not page.locator("#items-tab").is_visible()
    policy = page.inner_text("#policy")
    assert "a decision within 1 h of arrival" in policy
    assert "learned per model version" in policy
    check_widths(page, "manage-policy")

    page.click("#tab-members")
    page.wait_for_selector("#members-tab", state="visible")
    assert page.locator("#members tr[data-member=olga]").count() == 1
    check_widths(page, "manage-members")
    # Removing a member asks first; dismissing keeps them.
    messages: list[str] = []

    def answer(accept: bool):
        def handler(dialog) -> None:
            messages.append(dialog.message)
            dialog.accept() if accept else dialog.dismiss()
        return handler

    page.once("dialog", answer(False))
    page.click("#members tr[data-member=olga] button.remove-member")
    assert messages and "Remove olga from support?" in messages[-1]
    assert page.locator("#members tr[data-member=olga]").count() == 1
    page.once("dialog", answer(True))
    page.click("#members tr[data-member=olga] button.remove-member")
    page.wait_for_selector("p.flash")
    assert page.locator("#members-tab").is_visible()  # back on the tab the form was on
    assert page.locator("#members tr[data-member=olga]").count() == 0
    db.expire_all()
    olga = db.scalar(select(User.id).where(User.name == "olga"))
    assert db.get(QueueMember, (queue.id, olga)) is None

    # Rollout: past shadow with no learned threshold asks, and says why.
    page.click("#tab-adaptive")
    page.wait_for_selector("#adaptive", state="visible")
    assert page.inner_text("#rollout-stage").startswith("shadow")
    assert "No model version has a learned threshold yet" in page.inner_text(
        "#no-threshold-warning")
    check_widths(page, "manage-adaptive")
    page.set_viewport_size({"width": 1366, "height": 900})
    page.select_option("#stage-select", "100%")
    page.once("dialog", answer(False))
    page.click("#stage-set")
    assert "No model version has a learned threshold yet" in messages[-1]
    assert "jumps from shadow straight to 100%" in messages[-1]
    db.expire_all()
    assert db.get(Queue, queue.id).rollout_stage == "shadow"  # dismissed: nothing changed
    page.once("dialog", answer(True))
    page.click("#stage-set")
    page.wait_for_selector("p.flash")
    assert page.inner_text("#rollout-stage").startswith("100%")
